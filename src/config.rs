//! Typed settings, loaded from the environment once at start-up and validated there: an
//! invalid value stops the process with one line naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the service reads from its environment. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub bind_addr: SocketAddr,
    pub log_format: LogFormat,
    pub mono: MonoSettings,
    pub mbs: MbsSettings,
    /// `DATA_ENCRYPTION_KEY`: 32 bytes, base64 (checked at load), sealing what a database
    /// dump must not reveal (organizations' MBS crypto keys). Unset: such uploads are refused
    /// (`serve --sandbox` makes one up for the run).
    pub data_encryption_key: Option<SecretString>,
    pub eligibility: EligibilityDefaults,
    /// `MONO_SYNC_INTERVAL_SECS`: unset = no scheduled sync.
    pub sync_interval: Option<Duration>,
    /// `MONO_DATA_RETENTION_DAYS`: unset = keep forever; at most [`MAX_RETENTION_DAYS`].
    pub retention_days: Option<u32>,
    /// `MONO_UNCLAIMED_RETENTION_DAYS`: days to keep webhook deliveries no environment claims
    /// (their bodies may carry account numbers), 1 to [`MAX_RETENTION_DAYS`] (default 7).
    pub unclaimed_retention_days: u32,
    /// How refused webhook deliveries are limited and counted.
    pub webhook_refusals: WebhookRefusalSettings,
    /// `MONO_SYNC_CONCURRENCY`: syncs one replica runs at once (default 8, 1 to 256), API
    /// syncs and the job worker's sync lane together; the lane runs up to this many queued
    /// syncs, apart from `JOB_CONCURRENCY`.
    pub sync_concurrency: u32,
    /// `MONO_SYNC_ON_LINK`: a first link (exchange or `account_connected`) whose data is
    /// already available queues the account's first sync (default true).
    pub sync_on_link: bool,
    /// `MONO_SYNC_BUDGET_SECS`: one sync call stops at a page boundary after this long and
    /// answers `hasMore: true` (default 120).
    pub sync_time_budget: Duration,
    /// `SIGNING_KEY`: the Ed25519 seed invoices are signed with, base64 (checked at load).
    /// Unset = a key generated once and kept in the database.
    pub signing_key: Option<SecretString>,
    /// `JOB_CONCURRENCY`: background jobs (webhook processing, queued syncs) one replica runs
    /// at once (default 4; 0: this replica runs no job worker and only serves the API, for
    /// deployments that keep intake and processing on separate replicas). Each holds a pooled connection while it writes, so this stays well
    /// below `DATABASE_MAX_CONNECTIONS`, leaving the rest to requests such as webhook intake.
    pub job_concurrency: u32,
    /// `JOB_LEASE_SECS`: how long a replica's claim holds a background job without being
    /// renewed (a running job renews it every third of it), so how soon the jobs of a replica
    /// that died are taken over by another (default 30, 3 to 3600).
    pub job_lease: Duration,
    /// `API_RATE_LIMIT`: requests per second one API key may make to one replica, sustained
    /// (default 50; 0 = no limit). `API_RATE_BURST`: how many it may make at once (default
    /// twice the rate).
    pub api_rate_limit: u32,
    pub api_rate_burst: u32,
    /// `MONO_REFRESH_COOLDOWN_SECS`: the least time between two `?refresh=true` of one account
    /// (a real-time pull at Mono), across replicas (default 60; 0 = none).
    pub refresh_cooldown: Duration,
    /// `METRICS_ADDR`: serve `/metrics` there instead of on the API's address.
    pub metrics_addr: Option<SocketAddr>,
    /// `SHUTDOWN_TIMEOUT_SECS`: after SIGTERM, how long requests and jobs get to finish
    /// before the process stops them (default 30).
    pub shutdown_timeout: Duration,
    /// Rule previews: how many at once, and how long one's scan may run.
    pub preview: PreviewLimits,
}

/// Rule previews (`POST /si/mono/allow-deny/preview`) hold main-pool connections for their
/// whole scan of the ledger (one each, and more to split a large scan while they are free):
/// how many may run at once in one replica, how many connections they hold together, and how
/// long a scan may take.
#[derive(Debug, Clone, Copy)]
pub struct PreviewLimits {
    /// `PREVIEW_CONCURRENCY_PER_ENV`: previews of one environment at once (default 2, 1 to
    /// 64); past it 429 `rate_limited`.
    pub per_env: u32,
    /// `PREVIEW_CONCURRENCY`: main-pool connections the previews of every environment hold
    /// together (default 4, 1 to 256): a preview needs one to start, past it 429
    /// `rate_limited`, and splits its scan only over connections this leaves free.
    pub total: u32,
    /// `PREVIEW_SCAN_CONNECTIONS`: the most connections one preview splits its scan over
    /// (default 2, 1 to 16), each reading a range of the ledger's pages under one snapshot.
    pub scan_connections: u32,
    /// `PREVIEW_STATEMENT_TIMEOUT_MS`: the scan's `statement_timeout` (default 30000, 100 to
    /// 600000); a scan cut by it answers 422 `preview_too_large`.
    pub statement_timeout: Duration,
}

impl PreviewLimits {
    fn from_get(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let per_env = parse_num(get, "PREVIEW_CONCURRENCY_PER_ENV", 2u32)?;
        if !(1..=64).contains(&per_env) {
            return Err(err("PREVIEW_CONCURRENCY_PER_ENV", "must be between 1 and 64"));
        }
        let total = parse_num(get, "PREVIEW_CONCURRENCY", 4u32)?;
        if !(1..=256).contains(&total) {
            return Err(err("PREVIEW_CONCURRENCY", "must be between 1 and 256"));
        }
        let scan_connections = parse_num(get, "PREVIEW_SCAN_CONNECTIONS", 2u32)?;
        if !(1..=16).contains(&scan_connections) {
            return Err(err("PREVIEW_SCAN_CONNECTIONS", "must be between 1 and 16"));
        }
        let timeout_ms = parse_num(get, "PREVIEW_STATEMENT_TIMEOUT_MS", 30_000u64)?;
        if !(100..=600_000).contains(&timeout_ms) {
            return Err(err(
                "PREVIEW_STATEMENT_TIMEOUT_MS",
                "must be between 100 and 600000",
            ));
        }
        Ok(PreviewLimits {
            per_env,
            total,
            scan_connections,
            statement_timeout: Duration::from_millis(timeout_ms),
        })
    }
}

#[derive(Debug, Clone)]
pub struct MonoSettings {
    pub base_url: Url,
    pub secret_key: Option<SecretString>,
    pub app_id: Option<String>,
    pub webhook_secret: Option<SecretString>,
    pub verify_signature: bool,
    pub widget_base_url: Option<Url>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_retries: u32,
    /// `MONO_MAX_RPS`: calls per second to Mono for all replicas together (default 20;
    /// 0 = no budget).
    pub max_rps: u32,
}

/// Refused webhook deliveries: throttled per source address, counted in memory and flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookRefusalSettings {
    /// `MONO_WEBHOOK_REFUSAL_LIMIT`: refused deliveries one source address may make per
    /// minute to one replica, sustained, before they answer 429 (default 60; 0 = no limit).
    pub per_minute: u32,
    /// `MONO_WEBHOOK_REFUSAL_BURST`: refused deliveries it may make at once (default 20).
    pub burst: u32,
    /// `MONO_WEBHOOK_REFUSAL_FLUSH_SECS`: how often the refusals counted in memory are written
    /// to the database, one statement a period (default 10, 1 to 3600).
    pub flush_every: Duration,
}

/// The e-invoicing platform (MBS): where it is and the integrator's keys there.
#[derive(Debug, Clone)]
pub struct MbsSettings {
    /// `MBS_BASE_URL`: unset = no MBS (calls to it answer 503 naming the variable), except
    /// with `serve --sandbox`, which points it at the built-in sandbox.
    pub base_url: Option<Url>,
    /// `MBS_API_KEY`, `MBS_API_SECRET`: sent as `x-api-key` / `x-api-secret`.
    pub api_key: Option<SecretString>,
    pub api_secret: Option<SecretString>,
    /// `MBS_MAX_RPS`: calls per second to MBS for all replicas together (default 10;
    /// 0 = no budget).
    pub max_rps: u32,
    /// `MBS_TIMEOUT_MS`: one call's whole time (default 30000).
    pub timeout: Duration,
    /// `MBS_RESOURCES_CHECK_SECS`: how often each replica looks for MBS code lists older than
    /// a day to refresh, and fetches those never fetched (default 3600; 0 = never in the
    /// background: a list is fetched when first needed and refreshed when read stale).
    pub resources_check_every: Option<Duration>,
}

/// Defaults every environment starts from until its own settings are changed.
#[derive(Debug, Clone)]
pub struct EligibilityDefaults {
    /// `MONO_BUSINESS_FLOOR`, in minor units (the variable is in major units).
    pub floor_minor: i64,
    pub reference_regex: Option<String>,
    pub invoice_currency: String,
}

impl EligibilityDefaults {
    /// `MONO_BUSINESS_FLOOR`, `MONO_REFERENCE_REGEX` and `MONO_INVOICE_CURRENCY` alone (the
    /// `classify` command needs no database).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let floor_minor = match get("MONO_BUSINESS_FLOOR") {
            None => eligibility::DEFAULT_FLOOR_MINOR,
            Some(v) => eligibility::floor_minor_from_major(&v)
                .map_err(|e| err("MONO_BUSINESS_FLOOR", format!("`{v}`: {}", e.message)))?,
        };
        let reference_regex = get("MONO_REFERENCE_REGEX");
        let invoice_currency = match get("MONO_INVOICE_CURRENCY") {
            None => eligibility::DEFAULT_INVOICE_CURRENCY.to_string(),
            Some(v) => eligibility::normalize_currency(&v),
        };
        let defaults = EligibilityDefaults {
            floor_minor,
            reference_regex,
            invoice_currency,
        };
        // The engine's own validation: the same limits as settings changed over the API.
        defaults.settings().validate().map_err(|e| {
            let var = match e.field.as_str() {
                "referenceRegex" => "MONO_REFERENCE_REGEX",
                "invoiceCurrency" => "MONO_INVOICE_CURRENCY",
                _ => "MONO_BUSINESS_FLOOR",
            };
            err(var, e.message)
        })?;
        Ok(defaults)
    }

    /// The engine's settings with these defaults over its built-in keyword lists.
    pub fn settings(&self) -> eligibility::EligibilitySettings {
        eligibility::EligibilitySettings {
            floor_minor: self.floor_minor,
            reference_regex: self.reference_regex.clone(),
            invoice_currency: self.invoice_currency.clone(),
            ..eligibility::EligibilitySettings::default()
        }
    }
}

pub const DEFAULT_MONO_BASE_URL: &str = "https://api.withmono.com";
/// `MONO_MAX_RPS` when unset.
pub const DEFAULT_MONO_MAX_RPS: u32 = 20;
/// The largest `MONO_MAX_RPS`: the budget's row keeps one entry per call of the last window.
pub const MAX_MONO_MAX_RPS: u32 = 10_000;
/// `MBS_MAX_RPS` when unset.
pub const DEFAULT_MBS_MAX_RPS: u32 = 10;
/// The longest retention (100 years), as for an environment's own `retentionDays`: a cutoff
/// must be a date (about 96 million days back is none).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// `MONO_UNCLAIMED_RETENTION_DAYS` when unset.
pub const DEFAULT_UNCLAIMED_RETENTION_DAYS: u32 = 7;

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable through `lookup`; empty values count as unset.
    /// What serving needs beyond what every command needs: a service that verifies webhooks
    /// must have the secret to verify them with (else it would refuse every delivery).
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        if self.mono.verify_signature && self.mono.webhook_secret.is_none() {
            return Err(err(
                "MONO_WEBHOOK_SECRET",
                "is not set while MONO_VERIFY_SIGNATURE is true: set MONO_WEBHOOK_SECRET to the \
                 secret of the Mono app, or MONO_VERIFY_SIGNATURE=false to accept unverified webhooks",
            ));
        }
        Ok(())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let database_url = get("DATABASE_URL").ok_or_else(|| err("DATABASE_URL", "is required"))?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(err("DATABASE_URL", "must be a postgres:// or postgresql:// URL"));
        }
        let database_max_connections = parse_num(&get, "DATABASE_MAX_CONNECTIONS", 10u32)?;
        if database_max_connections == 0 {
            return Err(err("DATABASE_MAX_CONNECTIONS", "must be at least 1"));
        }
        let bind_addr = match get("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.parse().map_err(|_| {
                err(
                    "BIND_ADDR",
                    format!("`{v}` is not an address such as 127.0.0.1:8080"),
                )
            })?,
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(err("LOG_FORMAT", format!("`{other}` is not `text` or `json`"))),
        };

        let base_url = match get("MONO_BASE_URL") {
            None => Url::parse(DEFAULT_MONO_BASE_URL).expect("constant URL parses"),
            Some(v) => parse_http_url("MONO_BASE_URL", &v)?,
        };
        let widget_base_url = get("MONO_WIDGET_BASE_URL")
            .map(|v| parse_http_url("MONO_WIDGET_BASE_URL", &v))
            .transpose()?;
        let verify_signature = match get("MONO_VERIFY_SIGNATURE").as_deref() {
            None => true,
            Some(v) => parse_bool(v)
                .ok_or_else(|| err("MONO_VERIFY_SIGNATURE", format!("`{v}` is not true or false")))?,
        };
        let webhook_secret = get("MONO_WEBHOOK_SECRET").map(SecretString::from);
        let mono = MonoSettings {
            base_url,
            secret_key: get("MONO_SECRET_KEY").map(SecretString::from),
            app_id: get("MONO_APP_ID"),
            webhook_secret,
            verify_signature,
            widget_base_url,
            connect_timeout: Duration::from_millis(parse_num(&get, "MONO_CONNECT_TIMEOUT_MS", 5_000u64)?),
            timeout: Duration::from_millis(parse_num(&get, "MONO_TIMEOUT_MS", 30_000u64)?),
            max_retries: parse_num(&get, "MONO_MAX_RETRIES", 3u32)?,
            max_rps: parse_num(&get, "MONO_MAX_RPS", DEFAULT_MONO_MAX_RPS)?,
        };
        if mono.max_rps > MAX_MONO_MAX_RPS {
            return Err(err(
                "MONO_MAX_RPS",
                format!("must be between 0 (no budget) and {MAX_MONO_MAX_RPS}"),
            ));
        }
        if mono.timeout.is_zero() {
            return Err(err("MONO_TIMEOUT_MS", "must be above 0"));
        }
        if mono.connect_timeout.is_zero() {
            return Err(err("MONO_CONNECT_TIMEOUT_MS", "must be above 0"));
        }

        let mbs = MbsSettings {
            base_url: get("MBS_BASE_URL")
                .map(|v| parse_http_url("MBS_BASE_URL", &v).map(with_trailing_slash))
                .transpose()?,
            api_key: get("MBS_API_KEY").map(SecretString::from),
            api_secret: get("MBS_API_SECRET").map(SecretString::from),
            max_rps: parse_num(&get, "MBS_MAX_RPS", DEFAULT_MBS_MAX_RPS)?,
            timeout: Duration::from_millis(parse_num(&get, "MBS_TIMEOUT_MS", 30_000u64)?),
            resources_check_every: match parse_num(&get, "MBS_RESOURCES_CHECK_SECS", 3_600u64)? {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
        };
        if mbs.max_rps > MAX_MONO_MAX_RPS {
            return Err(err(
                "MBS_MAX_RPS",
                format!("must be between 0 (no budget) and {MAX_MONO_MAX_RPS}"),
            ));
        }
        if mbs.timeout.is_zero() || mbs.timeout > Duration::from_secs(600) {
            return Err(err("MBS_TIMEOUT_MS", "must be between 1 and 600000"));
        }
        if mbs.api_key.is_some() != mbs.api_secret.is_some() {
            let (var, other) = if mbs.api_key.is_some() {
                ("MBS_API_SECRET", "MBS_API_KEY")
            } else {
                ("MBS_API_KEY", "MBS_API_SECRET")
            };
            return Err(err(var, format!("must be set together with {other}")));
        }
        let data_encryption_key = get("DATA_ENCRYPTION_KEY").map(SecretString::from);
        if let Some(key) = &data_encryption_key {
            crate::seal::DataKey::decode(key.expose_secret()).map_err(|m| err("DATA_ENCRYPTION_KEY", m))?;
        }

        let eligibility = EligibilityDefaults::from_lookup(&lookup)?;

        let sync_interval = match get("MONO_SYNC_INTERVAL_SECS") {
            None => None,
            Some(v) => match v.parse::<u64>() {
                Ok(0) | Err(_) => {
                    return Err(err(
                        "MONO_SYNC_INTERVAL_SECS",
                        format!("`{v}` is not a positive number of seconds"),
                    ))
                }
                Ok(n) => Some(Duration::from_secs(n)),
            },
        };
        let retention_days = get("MONO_DATA_RETENTION_DAYS")
            .map(|v| parse_days("MONO_DATA_RETENTION_DAYS", &v))
            .transpose()?;
        let unclaimed_retention_days = match get("MONO_UNCLAIMED_RETENTION_DAYS") {
            None => DEFAULT_UNCLAIMED_RETENTION_DAYS,
            Some(v) => parse_days("MONO_UNCLAIMED_RETENTION_DAYS", &v)?,
        };
        let webhook_refusals = WebhookRefusalSettings {
            per_minute: parse_num(&get, "MONO_WEBHOOK_REFUSAL_LIMIT", 60u32)?,
            burst: parse_num(&get, "MONO_WEBHOOK_REFUSAL_BURST", 20u32)?,
            flush_every: Duration::from_secs(parse_num(&get, "MONO_WEBHOOK_REFUSAL_FLUSH_SECS", 10u64)?),
        };
        if webhook_refusals.per_minute > 60_000 {
            return Err(err(
                "MONO_WEBHOOK_REFUSAL_LIMIT",
                "must be between 0 (no limit) and 60000 per minute",
            ));
        }
        if webhook_refusals.per_minute > 0 && !(1..=10_000).contains(&webhook_refusals.burst) {
            return Err(err(
                "MONO_WEBHOOK_REFUSAL_BURST",
                "must be between 1 and 10000 while MONO_WEBHOOK_REFUSAL_LIMIT is set",
            ));
        }
        if !(1..=3_600).contains(&webhook_refusals.flush_every.as_secs()) {
            return Err(err(
                "MONO_WEBHOOK_REFUSAL_FLUSH_SECS",
                "must be between 1 and 3600",
            ));
        }

        let sync_concurrency = parse_num(&get, "MONO_SYNC_CONCURRENCY", 8u32)?;
        if !(1..=256).contains(&sync_concurrency) {
            return Err(err("MONO_SYNC_CONCURRENCY", "must be between 1 and 256"));
        }
        let sync_on_link = match get("MONO_SYNC_ON_LINK") {
            None => true,
            Some(v) => parse_bool(&v)
                .ok_or_else(|| err("MONO_SYNC_ON_LINK", format!("`{v}` is not true or false")))?,
        };
        let sync_time_budget = Duration::from_secs(parse_num(&get, "MONO_SYNC_BUDGET_SECS", 120u64)?);
        if sync_time_budget.is_zero() {
            return Err(err("MONO_SYNC_BUDGET_SECS", "must be above 0"));
        }
        let signing_key = get("SIGNING_KEY").map(SecretString::from);
        if let Some(key) = &signing_key {
            crate::signing::decode_seed(key.expose_secret()).map_err(|m| err("SIGNING_KEY", m))?;
        }

        let job_concurrency = parse_num(&get, "JOB_CONCURRENCY", 4u32)?;
        if job_concurrency > 256 {
            return Err(err(
                "JOB_CONCURRENCY",
                "must be between 0 (no job worker here) and 256",
            ));
        }

        let job_lease = match parse_num(&get, "JOB_LEASE_SECS", DEFAULT_JOB_LEASE.as_secs())? {
            secs @ 3..=3600 => Duration::from_secs(secs),
            secs => {
                return Err(err(
                    "JOB_LEASE_SECS",
                    format!("`{secs}` is not a number of seconds between 3 and 3600"),
                ))
            }
        };

        let api_rate_limit = parse_num(&get, "API_RATE_LIMIT", 50u32)?;
        let api_rate_burst = parse_num(&get, "API_RATE_BURST", api_rate_limit.saturating_mul(2))?;
        if api_rate_limit > 0 && api_rate_burst == 0 {
            return Err(err(
                "API_RATE_BURST",
                "must be at least 1 while API_RATE_LIMIT is set",
            ));
        }
        let refresh_cooldown = Duration::from_secs(parse_num(&get, "MONO_REFRESH_COOLDOWN_SECS", 60u64)?);
        let metrics_addr = match get("METRICS_ADDR") {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| {
                err(
                    "METRICS_ADDR",
                    format!("`{v}` is not an address such as 127.0.0.1:9090"),
                )
            })?),
        };

        let shutdown_timeout = Duration::from_secs(parse_num(&get, "SHUTDOWN_TIMEOUT_SECS", 30u64)?);
        let preview = PreviewLimits::from_get(&get)?;

        Ok(Settings {
            preview,
            shutdown_timeout,
            api_rate_limit,
            api_rate_burst,
            refresh_cooldown,
            metrics_addr,
            database_url: SecretString::from(database_url),
            database_max_connections,
            bind_addr,
            log_format,
            mono,
            mbs,
            data_encryption_key,
            eligibility,
            sync_interval,
            retention_days,
            unclaimed_retention_days,
            webhook_refusals,
            sync_concurrency,
            sync_on_link,
            sync_time_budget,
            signing_key,
            job_concurrency,
            job_lease,
        })
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The seed of `SIGNING_KEY`, when it is set (validated when the settings were loaded).
    pub fn signing_seed(&self) -> Option<crate::signing::Seed> {
        self.signing_key
            .as_ref()
            .and_then(|k| crate::signing::decode_seed(k.expose_secret()).ok())
    }
}

/// How long a claim holds a background job unless renewed, when `JOB_LEASE_SECS` is unset.
pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(30);

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| err(var, format!("`{v}` is not a valid non-negative number"))),
    }
}

/// A retention: whole days, 1 to [`MAX_RETENTION_DAYS`].
fn parse_days(var: &'static str, v: &str) -> Result<u32, ConfigError> {
    match v.parse::<u32>() {
        Ok(n @ 1..=MAX_RETENTION_DAYS) => Ok(n),
        _ => Err(err(
            var,
            format!("`{v}` is not a number of days between 1 and {MAX_RETENTION_DAYS}"),
        )),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A base URL other paths are joined onto: without the slash, `join` would drop its last
/// segment.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn parse_http_url(var: &'static str, v: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(v).map_err(|e| err(var, format!("`{v}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err(var, format!("`{v}` is not an absolute http(s) URL")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.entry("DATABASE_URL".into())
            .or_insert_with(|| "postgres://u:hunter2@localhost/db".into());
        Settings::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.eligibility.floor_minor, 100_000);
        assert!(s.mono.verify_signature);
        assert_eq!(s.mono.base_url.as_str(), "https://api.withmono.com/");
        assert_eq!(s.sync_interval, None);
        assert_eq!(s.sync_concurrency, 8);
        assert!(s.sync_on_link);
        assert_eq!(s.retention_days, None);
        assert_eq!(s.unclaimed_retention_days, 7);
        assert_eq!(
            s.webhook_refusals,
            WebhookRefusalSettings {
                per_minute: 60,
                burst: 20,
                flush_every: Duration::from_secs(10),
            }
        );
        assert_eq!(s.log_format, LogFormat::Text);
        assert!(s.signing_key.is_none());
    }

    #[test]
    fn each_invalid_value_names_its_variable() {
        for (var, value) in [
            ("MONO_BUSINESS_FLOOR", "ten"),
            ("MONO_BUSINESS_FLOOR", "-5"),
            ("MONO_REFERENCE_REGEX", "(unclosed"),
            ("MONO_BASE_URL", "not a url"),
            ("MONO_WIDGET_BASE_URL", "ftp://x"),
            ("BIND_ADDR", "localhost"),
            ("LOG_FORMAT", "xml"),
            ("MONO_VERIFY_SIGNATURE", "maybe"),
            ("MONO_SYNC_INTERVAL_SECS", "0"),
            ("JOB_CONCURRENCY", "257"),
            ("MONO_SYNC_CONCURRENCY", "0"),
            ("MONO_SYNC_CONCURRENCY", "257"),
            ("MONO_SYNC_CONCURRENCY", "many"),
            ("MONO_SYNC_ON_LINK", "sometimes"),
            ("MONO_DATA_RETENTION_DAYS", "x"),
            ("MONO_DATA_RETENTION_DAYS", "0"),
            ("MONO_DATA_RETENTION_DAYS", "36501"),
            ("MONO_DATA_RETENTION_DAYS", "96000000"),
            ("MONO_UNCLAIMED_RETENTION_DAYS", "0"),
            ("MONO_UNCLAIMED_RETENTION_DAYS", "4294967295"),
            ("MONO_UNCLAIMED_RETENTION_DAYS", "a week"),
            ("MONO_WEBHOOK_REFUSAL_LIMIT", "-1"),
            ("MONO_WEBHOOK_REFUSAL_LIMIT", "60001"),
            ("MONO_WEBHOOK_REFUSAL_BURST", "0"),
            ("MONO_WEBHOOK_REFUSAL_FLUSH_SECS", "0"),
            ("MONO_WEBHOOK_REFUSAL_FLUSH_SECS", "3601"),
            ("API_RATE_LIMIT", "fast"),
            ("API_RATE_BURST", "0"),
            ("MONO_REFRESH_COOLDOWN_SECS", "-1"),
            ("METRICS_ADDR", "metrics"),
            ("SHUTDOWN_TIMEOUT_SECS", "soon"),
            ("MONO_INVOICE_CURRENCY", "NAIRA"),
            ("DATABASE_URL", "mysql://x"),
            ("SIGNING_KEY", "not-base64!"),
            ("SIGNING_KEY", "AAAA"),
            ("MONO_MAX_RPS", "fast"),
            ("MONO_MAX_RPS", "-1"),
            ("MONO_MAX_RPS", "2.5"),
            ("MONO_MAX_RPS", "10001"),
        ] {
            let e = load(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value} gave {e}");
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn mono_max_rps_defaults_to_20_and_zero_turns_the_budget_off() {
        assert_eq!(load(&[]).unwrap().mono.max_rps, 20);
        assert_eq!(load(&[("MONO_MAX_RPS", "")]).unwrap().mono.max_rps, 20);
        assert_eq!(load(&[("MONO_MAX_RPS", "0")]).unwrap().mono.max_rps, 0);
        assert_eq!(load(&[("MONO_MAX_RPS", " 7 ")]).unwrap().mono.max_rps, 7);
        assert_eq!(
            load(&[("MONO_MAX_RPS", "10000")]).unwrap().mono.max_rps,
            MAX_MONO_MAX_RPS
        );
        let e = load(&[("MONO_MAX_RPS", "lots")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "MONO_MAX_RPS: `lots` is not a valid non-negative number"
        );
    }

    #[test]
    fn the_job_lease_is_bounded() {
        assert_eq!(load(&[]).unwrap().job_lease, Duration::from_secs(30));
        assert_eq!(
            load(&[("JOB_LEASE_SECS", "3")]).unwrap().job_lease,
            Duration::from_secs(3)
        );
        let e = load(&[("JOB_LEASE_SECS", "2")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "JOB_LEASE_SECS: `2` is not a number of seconds between 3 and 3600"
        );
        assert!(load(&[("JOB_LEASE_SECS", "3601")]).is_err());
    }

    #[test]
    fn retentions_are_bounded_so_every_cutoff_is_a_date() {
        let s = load(&[
            ("MONO_DATA_RETENTION_DAYS", "36500"),
            ("MONO_UNCLAIMED_RETENTION_DAYS", "1"),
        ])
        .unwrap();
        assert_eq!(s.retention_days, Some(MAX_RETENTION_DAYS));
        assert_eq!(s.unclaimed_retention_days, 1);
        let e = load(&[("MONO_DATA_RETENTION_DAYS", "100000000")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "MONO_DATA_RETENTION_DAYS: `100000000` is not a number of days between 1 and 36500"
        );
        let now = chrono::Utc::now();
        assert!(now
            .checked_sub_signed(chrono::TimeDelta::days(i64::from(MAX_RETENTION_DAYS)))
            .is_some());
    }

    #[test]
    fn refusals_may_go_unlimited_but_a_limit_needs_a_burst() {
        let s = load(&[
            ("MONO_WEBHOOK_REFUSAL_LIMIT", "0"),
            ("MONO_WEBHOOK_REFUSAL_BURST", "0"),
        ])
        .unwrap();
        assert_eq!(s.webhook_refusals.per_minute, 0);
        let e = load(&[("MONO_WEBHOOK_REFUSAL_BURST", "0")]).unwrap_err();
        assert!(e.message.contains("MONO_WEBHOOK_REFUSAL_LIMIT"), "{e}");
    }

    #[test]
    fn preview_limits_default_small_and_each_bad_value_names_its_variable() {
        let p = load(&[]).unwrap().preview;
        assert_eq!((p.per_env, p.total, p.scan_connections), (2, 4, 2));
        assert_eq!(p.statement_timeout, Duration::from_secs(30));
        for (var, value) in [
            ("PREVIEW_CONCURRENCY_PER_ENV", "0"),
            ("PREVIEW_CONCURRENCY_PER_ENV", "65"),
            ("PREVIEW_CONCURRENCY", "0"),
            ("PREVIEW_CONCURRENCY", "many"),
            ("PREVIEW_SCAN_CONNECTIONS", "0"),
            ("PREVIEW_SCAN_CONNECTIONS", "17"),
            ("PREVIEW_STATEMENT_TIMEOUT_MS", "99"),
            ("PREVIEW_STATEMENT_TIMEOUT_MS", "600001"),
        ] {
            let e = load(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value} gave {e}");
        }
    }

    #[test]
    fn floor_takes_major_units() {
        assert_eq!(
            load(&[("MONO_BUSINESS_FLOOR", "1000.5")])
                .unwrap()
                .eligibility
                .floor_minor,
            100_050
        );
        assert_eq!(
            load(&[("MONO_BUSINESS_FLOOR", "0.01")])
                .unwrap()
                .eligibility
                .floor_minor,
            1
        );
        assert!(load(&[("MONO_BUSINESS_FLOOR", "1.234")]).is_err());
        assert_eq!(
            load(&[("MONO_INVOICE_CURRENCY", "ghc")])
                .unwrap()
                .eligibility
                .invoice_currency,
            "GHS"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = load(&[
            ("MONO_SECRET_KEY", "live_sk_abcdef"),
            ("MONO_WEBHOOK_SECRET", "whsec_xyz"),
            ("SIGNING_KEY", "c2lnbmluZy1zZWVkLXRoaXJ0eS10d28tYnl0ZXMhISE="),
        ])
        .unwrap();
        assert_eq!(s.signing_seed().unwrap(), *b"signing-seed-thirty-two-bytes!!!");
        let debug = format!("{s:?}");
        assert!(!debug.contains("c2lnbmluZy1zZWVk"));
        assert!(!debug.contains("live_sk_abcdef"));
        assert!(!debug.contains("whsec_xyz"));
        assert!(!debug.contains("hunter2"));
    }

    #[test]
    fn serving_needs_the_webhook_secret_only_while_verifying() {
        let base = [("DATABASE_URL", "postgres://u@h/db")];
        let with = |extra: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = base
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Settings::from_lookup(move |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap()
        };
        let refused = with(&[]).check_serving().unwrap_err();
        assert_eq!(refused.var, "MONO_WEBHOOK_SECRET");
        assert!(
            refused.message.contains("MONO_VERIFY_SIGNATURE"),
            "{}",
            refused.message
        );
        assert!(with(&[("MONO_WEBHOOK_SECRET", "s")]).check_serving().is_ok());
        assert!(with(&[("MONO_VERIFY_SIGNATURE", "false")])
            .check_serving()
            .is_ok());
    }
}
