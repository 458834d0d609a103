//! `MonoClient`: one `reqwest::Client` speaking Mono Connect v2 with the secret key, timeouts,
//! bounded retries with full-jitter backoff, and typed errors.
//!
//! Retry policy. Only calls that are safe to repeat are retried: every GET, and `unlink`
//! (unlinking twice leaves the same state; a repeat that finds the account gone answers 404,
//! which `unlink` reports as `AlreadyGone`). `initiate` and `auth` are never retried: a second
//! initiate opens a second widget session and a code is single-use, so a repeat after a lost
//! answer would turn a success into a failure. Retried conditions: 5xx, 429 (waiting for
//! `Retry-After` seconds when given, capped at [`MAX_RETRY_AFTER`]), timeouts and transport
//! failures (connect refused, reset).
//!
//! Every attempt first takes a token of the request budget shared by all replicas (when the
//! client has one, [`MonoClient::with_budget`]); a 429 with `Retry-After` pauses that budget,
//! so every replica waits, not only this call. Budget waits and retry sleeps end early on
//! shutdown ([`MonoClient::with_shutdown`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::budget::RequestBudget;
use super::error::MonoError;
use super::types::*;

/// Header carrying the secret key on every call.
pub const HEADER_SEC_KEY: &str = "mono-sec-key";
/// Header asking Mono to fetch fresh data from the bank.
pub const HEADER_REALTIME: &str = "x-realtime";
/// Longest `Retry-After` the client will sleep for; a longer ask is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest backoff between two attempts, whatever `retry_base_delay * 2^n` grows to.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How the client reaches Mono. Fields are public so settings can build it directly;
/// [`MonoConfig::new`] fills the rest with sensible defaults.
#[derive(Clone)]
pub struct MonoConfig {
    pub base_url: Url,
    pub secret_key: SecretString,
    pub connect_timeout: Duration,
    /// Total time for one attempt, answer body included.
    pub timeout: Duration,
    /// Extra attempts after the first, for calls safe to repeat.
    pub max_retries: u32,
    /// First backoff ceiling; doubles per attempt up to [`MAX_BACKOFF`], full jitter.
    pub retry_base_delay: Duration,
}

impl MonoConfig {
    /// Defaults: 5 s to connect, 30 s per attempt, 3 retries, 200 ms base backoff.
    pub fn new(base_url: Url, secret_key: SecretString) -> Self {
        MonoConfig {
            base_url,
            secret_key,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(200),
        }
    }
}

impl fmt::Debug for MonoConfig {
    // Written by hand so the secret key can never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonoConfig")
            .field("base_url", &self.base_url.as_str())
            .field("secret_key", &"[REDACTED]")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .finish()
    }
}

/// The Mono client. Cheap to clone: one connection pool and one config behind `Arc`s.
#[derive(Clone)]
pub struct MonoClient {
    http: reqwest::Client,
    config: Arc<MonoConfig>,
    /// The request budget every attempt takes a token from; none: unlimited.
    budget: Option<Arc<dyn RequestBudget>>,
    /// Ends budget waits and retry sleeps early.
    shutdown: CancellationToken,
}

impl fmt::Debug for MonoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonoClient")
            .field("config", &self.config)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Whether a failed attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    Never,
}

impl MonoClient {
    pub fn new(mut config: MonoConfig) -> Result<Self, MonoError> {
        if !matches!(config.base_url.scheme(), "http" | "https") || config.base_url.cannot_be_a_base() {
            return Err(MonoError::Config(format!(
                "base URL `{}` is not an http(s) URL",
                config.base_url
            )));
        }
        // A base with a path prefix (`https://proxy/mono`) keeps it: calls append segments.
        if !config.base_url.path().ends_with('/') {
            let path = format!("{}/", config.base_url.path());
            config.base_url.set_path(&path);
        }
        let mut key = HeaderValue::from_str(config.secret_key.expose_secret())
            .map_err(|_| MonoError::Config("the secret key is not a valid header value".into()))?;
        // Marked sensitive so hyper and reqwest never print it.
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static(HEADER_SEC_KEY), key);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("taxpoynt-mono/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry `mono-sec-key` to whatever host Mono's answer names.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MonoError::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(MonoClient {
            http,
            config: Arc::new(config),
            budget: None,
            shutdown: CancellationToken::new(),
        })
    }

    /// Every call takes a token of `budget` first (without one, calls are not budgeted).
    pub fn with_budget(mut self, budget: Arc<dyn RequestBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Waits for the budget and between retries end when `shutdown` is cancelled: the call
    /// answers [`MonoError::ShuttingDown`], or the last attempt's error.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The request budget, when calls take one.
    pub fn budget(&self) -> Option<&Arc<dyn RequestBudget>> {
        self.budget.as_ref()
    }

    pub fn config(&self) -> &MonoConfig {
        &self.config
    }

    /// `POST /v2/accounts/initiate`: a widget URL for a new link (`auth`) or a reauth. Never
    /// retried.
    pub async fn initiate(&self, request: &InitiateRequest) -> Result<InitiateData, MonoError> {
        let url = self.url(&["v2", "accounts", "initiate"]);
        let body = serde_json::to_vec(request).map_err(|e| MonoError::Decode {
            path: "request".into(),
            message: e.to_string(),
        })?;
        let (_, bytes) = self
            .execute("initiate", Method::POST, url, None, Some(body), Retry::Never)
            .await?;
        Ok(decode_envelope::<InitiateData>(&bytes)?.data)
    }

    /// `POST /v2/accounts/auth`: exchanges a widget code for an account id. Never retried
    /// (codes are single-use). Accepts both the enveloped and the bare `{"id": …}` answer.
    pub async fn exchange_code(&self, code: &str) -> Result<String, MonoError> {
        let url = self.url(&["v2", "accounts", "auth"]);
        let body = serde_json::to_vec(&ExchangeRequest {
            code: code.to_owned(),
        })
        .map_err(|e| MonoError::Decode {
            path: "request".into(),
            message: e.to_string(),
        })?;
        let (_, bytes) = self
            .execute("auth", Method::POST, url, None, Some(body), Retry::Never)
            .await?;
        decode_exchange(&bytes)
    }

    /// `GET /v2/accounts?page=`: every account of the Mono app, one page.
    pub async fn list_accounts(&self, page: Option<u32>) -> Result<(Vec<AccountSummary>, Paging), MonoError> {
        let mut url = self.url(&["v2", "accounts"]);
        if let Some(page) = page {
            url.query_pairs_mut().append_pair("page", &page.to_string());
        }
        let (_, bytes) = self
            .execute("accounts", Method::GET, url, None, None, Retry::Safe)
            .await?;
        let env = decode_envelope::<Vec<AccountSummary>>(&bytes)?;
        let paging = env.meta.ok_or_else(missing_paging)?;
        Ok((env.data, paging))
    }

    /// `GET /v2/accounts/{id}`; `realtime` sends `x-realtime: true`.
    pub async fn account_details(
        &self,
        account_id: &str,
        realtime: bool,
    ) -> Result<AccountDetails, MonoError> {
        let url = self.url(&["v2", "accounts", account_id]);
        let (_, bytes) = self
            .execute(
                "details",
                Method::GET,
                url,
                realtime_header(realtime),
                None,
                Retry::Safe,
            )
            .await?;
        Ok(decode_envelope::<AccountDetails>(&bytes)?.data)
    }

    /// `GET /v2/accounts/{id}/identity`. The answer holds a full BVN: never store it.
    pub async fn identity(&self, account_id: &str) -> Result<Identity, MonoError> {
        let url = self.url(&["v2", "accounts", account_id, "identity"]);
        let (_, bytes) = self
            .execute("identity", Method::GET, url, None, None, Retry::Safe)
            .await?;
        Ok(decode_envelope::<Identity>(&bytes)?.data)
    }

    /// `GET /v2/accounts/{id}/balance`; `realtime` sends `x-realtime: true`.
    pub async fn balance(&self, account_id: &str, realtime: bool) -> Result<Balance, MonoError> {
        let url = self.url(&["v2", "accounts", account_id, "balance"]);
        let (_, bytes) = self
            .execute(
                "balance",
                Method::GET,
                url,
                realtime_header(realtime),
                None,
                Retry::Safe,
            )
            .await?;
        Ok(decode_envelope::<Balance>(&bytes)?.data)
    }

    /// `GET /v2/accounts/{id}/transactions`: one page, newest first, `paginate=true`.
    pub async fn transactions(
        &self,
        account_id: &str,
        query: &TransactionQuery,
    ) -> Result<TransactionPage, MonoError> {
        let page = self.transactions_raw(account_id, query).await?;
        let transactions = page
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                item.decoded.map_err(|m| MonoError::Decode {
                    path: format!("data[{i}].{}", m.path),
                    message: m.message,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TransactionPage {
            transactions,
            paging: page.paging,
        })
    }

    /// The same page item by item: an item that does not decode is kept raw with its error
    /// (the sync sends it to the DLQ and moves on); only the envelope must decode.
    pub async fn transactions_raw(
        &self,
        account_id: &str,
        query: &TransactionQuery,
    ) -> Result<RawTransactionPage, MonoError> {
        let mut url = self.url(&["v2", "accounts", account_id, "transactions"]);
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query.to_pairs() {
                pairs.append_pair(k, &v);
            }
        }
        let (_, bytes) = self
            .execute("transactions", Method::GET, url, None, None, Retry::Safe)
            .await?;
        let env = decode_envelope::<Vec<Box<serde_json::value::RawValue>>>(&bytes)?;
        let paging = env.meta.ok_or_else(missing_paging)?;
        Ok(RawTransactionPage {
            items: env.data.into_iter().map(RawTransaction::decode).collect(),
            paging,
        })
    }

    /// Pages of an account's transactions from `query.page` (default 1) until Mono's `next`
    /// is null. Only one page is held at a time, so a caller walking a long history holds
    /// `limit` transactions, never the history.
    pub fn transaction_pages(&self, account_id: &str, query: TransactionQuery) -> TransactionPages {
        let next_page = query.page.unwrap_or(1).max(1);
        TransactionPages {
            client: self.clone(),
            account_id: account_id.to_owned(),
            query,
            next_page: Some(next_page),
        }
    }

    /// `POST /v2/accounts/{id}/unlink`. Retried like a GET (see the module docs); a 404 is
    /// `AlreadyGone`, not an error.
    pub async fn unlink(&self, account_id: &str) -> Result<UnlinkOutcome, MonoError> {
        let url = self.url(&["v2", "accounts", account_id, "unlink"]);
        match self
            .execute("unlink", Method::POST, url, None, None, Retry::Safe)
            .await
        {
            Ok(_) => Ok(UnlinkOutcome::Unlinked),
            Err(MonoError::Api { status: 404, .. }) => Ok(UnlinkOutcome::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// The base URL with `segments` appended, each percent-encoded (an account id can never
    /// change the path).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.config.base_url.clone();
        // `new` checked the base can carry a path, so this branch always runs.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends one call with the retry policy; answers the status and body of a 2xx. Every
    /// attempt takes a token of the request budget first, when the client has one.
    async fn execute(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        headers: Option<HeaderMap>,
        body: Option<Vec<u8>>,
        retry: Retry,
    ) -> Result<(StatusCode, Bytes), MonoError> {
        let max_attempts = match retry {
            Retry::Safe => self.config.max_retries.saturating_add(1),
            Retry::Never => 1,
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let last = attempt >= max_attempts;
            if let Some(budget) = &self.budget {
                budget.acquire(&self.shutdown).await?;
            }
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(h) = &headers {
                request = request.headers(h.clone());
            }
            if let Some(b) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    metrics::counter!("mono_responses_total", "op" => op, "status" => status.as_u16().to_string())
                        .increment(1);
                    let retry_after = parse_retry_after(response.headers());
                    read_capped(response, MAX_ANSWER_BYTES)
                        .await
                        .map(|bytes| (status, retry_after, bytes))
                }
                Err(e) => Err(transport_error(e)),
            };
            // The wait before the next attempt, and the error answered if there is none.
            let (wait, error) = match outcome {
                Ok((status, _, bytes)) if status.is_success() => {
                    tracing::debug!(op, %status, attempt, "mono call succeeded");
                    return Ok((status, bytes));
                }
                Ok((status, retry_after, bytes)) if status == StatusCode::TOO_MANY_REQUESTS => {
                    metrics::counter!("mono_rate_limited_total").increment(1);
                    // Mono's ask holds for every replica, not just this call.
                    if let (Some(budget), Some(after)) = (&self.budget, retry_after) {
                        budget.pause(after).await;
                    }
                    let message = failure_message(status, &bytes);
                    if last {
                        tracing::warn!(op, attempt, "mono rate limited; giving up");
                        return Err(MonoError::RateLimited { retry_after, message });
                    }
                    (
                        retry_after.unwrap_or_else(|| self.backoff(attempt)),
                        MonoError::RateLimited { retry_after, message },
                    )
                }
                Ok((status, _, bytes)) if status.is_server_error() => {
                    let error = MonoError::Api {
                        status: status.as_u16(),
                        message: failure_message(status, &bytes),
                    };
                    if last {
                        tracing::warn!(op, %status, attempt, "mono failed; giving up");
                        return Err(error);
                    }
                    (self.backoff(attempt), error)
                }
                Ok((status, _, bytes)) => {
                    tracing::debug!(op, %status, "mono refused the call");
                    return Err(MonoError::Api {
                        status: status.as_u16(),
                        message: failure_message(status, &bytes),
                    });
                }
                Err(e @ (MonoError::Config(_) | MonoError::Decode { .. })) => return Err(e),
                Err(e) => {
                    if last {
                        tracing::warn!(op, attempt, error = %e, "mono unreachable; giving up");
                        return Err(e);
                    }
                    (self.backoff(attempt), e)
                }
            };
            tracing::info!(
                op,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying mono call"
            );
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    tracing::info!(op, attempt, "shutting down; not retrying the mono call");
                    return Err(error);
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Full jitter: a uniform wait in `[0, min(MAX_BACKOFF, base * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .config
            .retry_base_delay
            .saturating_mul(1u32 << exp)
            .min(MAX_BACKOFF);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=ceiling_ms))
    }
}

/// Walks an account's transactions page by page (see [`MonoClient::transaction_pages`]).
///
/// Pages are always requested from the configured base URL with the page number taken from
/// Mono's `next`, never by following `next` itself: the secret key must not go to a host
/// named in an answer. An error leaves the position unchanged, so `next_page` may be called
/// again to retry the same page.
#[derive(Debug, Clone)]
pub struct TransactionPages {
    client: MonoClient,
    account_id: String,
    query: TransactionQuery,
    next_page: Option<u32>,
}

impl TransactionPages {
    /// The page the next call fetches, or `None` once the history is walked.
    pub fn upcoming_page(&self) -> Option<u32> {
        self.next_page
    }

    /// The next page, or `None` when there is none.
    pub async fn next_page(&mut self) -> Option<Result<TransactionPage, MonoError>> {
        let page = self.next_page?;
        let mut query = self.query.clone();
        query.page = Some(page);
        match self.client.transactions(&self.account_id, &query).await {
            Ok(result) => {
                self.next_page = following_page(page, &result);
                Some(Ok(result))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// The pages as a `Stream`, ending after the last page or after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<TransactionPage, MonoError>> + Send {
        futures::stream::unfold(Some(self), |state| async move {
            let mut pages = state?;
            match pages.next_page().await? {
                Ok(page) => Some((Ok(page), Some(pages))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// The page after `current`: the `page` of Mono's `next` URL when it names a later one, else
/// `current + 1`; none when `next` is null or the page came back empty (a guard against an
/// upstream that keeps pointing forward).
fn following_page(current: u32, result: &TransactionPage) -> Option<u32> {
    let next = result.paging.next.as_deref()?;
    if result.transactions.is_empty() {
        return None;
    }
    let named = Url::parse(next)
        .or_else(|_| Url::parse("http://mono.invalid/").and_then(|b| b.join(next)))
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse::<u32>().ok())
        });
    match named {
        Some(p) if p > current => Some(p),
        _ => current.checked_add(1),
    }
}

fn realtime_header(realtime: bool) -> Option<HeaderMap> {
    realtime.then(|| {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static(HEADER_REALTIME),
            HeaderValue::from_static("true"),
        );
        h
    })
}

fn transport_error(e: reqwest::Error) -> MonoError {
    if e.is_timeout() {
        MonoError::Timeout
    } else if e.is_builder() {
        MonoError::Config(e.without_url().to_string())
    } else {
        // The cause chain is what explains a failure ("connection refused"); the URL is left
        // out because the path names an account.
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        MonoError::Transport(message)
    }
}

/// Seconds of a `Retry-After` header, capped at [`MAX_RETRY_AFTER`]. An HTTP-date form is
/// ignored (backoff applies), as Mono sends seconds.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = raw.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// Mono's own message from a failure envelope; else the body's start or the status text.
fn failure_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Failure {
        message: Option<String>,
    }
    if let Ok(Failure { message: Some(m) }) = serde_json::from_slice::<Failure>(body) {
        if !m.trim().is_empty() {
            return m;
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        text.chars().take(200).collect()
    }
}

/// The largest answer read from Mono: a page of 500 transactions is well under 1 MiB.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The answer's body, refused (not retried: it would be as large again) past `cap` bytes, so a
/// misbehaving upstream cannot make the service buffer without end.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<bytes::Bytes, MonoError> {
    let too_large = || MonoError::Decode {
        path: String::new(),
        message: format!("the answer is larger than {cap} bytes"),
    };
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Decodes `bytes` as `T`, naming the path of the first bad field.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, MonoError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| MonoError::Decode {
        path: e.path().to_string(),
        message: redact::serde_problem(&e.inner().to_string()),
    })
}

/// A 2xx envelope; a 2xx that still says `"status":"failed"` is Mono's failure.
fn decode_envelope<T: DeserializeOwned>(bytes: &[u8]) -> Result<MonoEnvelope<T>, MonoError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        status: Option<String>,
        message: Option<String>,
    }
    // Looked at before the typed decode: a failure's `data` is null and would not decode.
    if let Ok(Probe {
        status: Some(status),
        message,
    }) = serde_json::from_slice::<Probe>(bytes)
    {
        if status.eq_ignore_ascii_case(STATUS_FAILED) {
            return Err(MonoError::Api {
                status: 200,
                message: message.unwrap_or_default(),
            });
        }
    }
    decode(bytes)
}

/// The exchange answer, enveloped (`{status, data: {id}}`) or bare (`{id}`).
fn decode_exchange(bytes: &[u8]) -> Result<String, MonoError> {
    let value: serde_json::Value = decode(bytes)?;
    if value.get("data").is_some() || value.get("status").is_some() {
        Ok(decode_envelope::<ExchangeData>(bytes)?.data.id)
    } else {
        Ok(decode::<ExchangeData>(bytes)?.id)
    }
}

fn missing_paging() -> MonoError {
    MonoError::Decode {
        path: "meta".into(),
        message: "the list has neither `meta` nor `paging`".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(next: Option<&str>, len: usize) -> TransactionPage {
        let tx = MonoTransaction {
            id: "t".into(),
            narration: String::new(),
            amount: 1,
            kind: TransactionType::Credit,
            balance: None,
            date: chrono::DateTime::UNIX_EPOCH,
            category: None,
            currency: None,
            reference: None,
            description: None,
            counterparty: None,
        };
        TransactionPage {
            transactions: vec![tx; len],
            paging: Paging {
                total: 100,
                page: None,
                pages: None,
                previous: None,
                next: next.map(str::to_owned),
            },
        }
    }

    #[test]
    fn following_page_reads_next_or_counts_on() {
        let abs = "https://api.withmono.com/v2/accounts/a/transactions?page=5&limit=2";
        assert_eq!(following_page(4, &page_with(Some(abs), 2)), Some(5));
        assert_eq!(following_page(1, &page_with(Some("/v2/x?page=2"), 2)), Some(2));
        // A `next` without a usable page, or pointing backwards, still moves forward.
        assert_eq!(following_page(3, &page_with(Some("opaque-cursor"), 2)), Some(4));
        assert_eq!(following_page(3, &page_with(Some("/x?page=1"), 2)), Some(4));
        assert_eq!(following_page(3, &page_with(None, 2)), None);
        // An empty page ends the walk even if `next` says otherwise.
        assert_eq!(following_page(3, &page_with(Some(abs), 0)), None);
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(parse_retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn backoff_is_jittered_under_a_doubling_ceiling() {
        let mut cfg = MonoConfig::new(Url::parse("http://127.0.0.1/").unwrap(), SecretString::from("k"));
        cfg.retry_base_delay = Duration::from_millis(100);
        let client = MonoClient::new(cfg).unwrap();
        for attempt in 1..=4u32 {
            let ceiling = Duration::from_millis(100 * (1 << (attempt - 1)));
            for _ in 0..50 {
                assert!(client.backoff(attempt) <= ceiling);
            }
        }
        assert!((0..200).all(|_| client.backoff(30) <= MAX_BACKOFF));
    }

    #[test]
    fn failure_messages_prefer_monos_own() {
        let body = br#"{"status":"failed","message":"Invalid account","data":null}"#;
        assert_eq!(failure_message(StatusCode::BAD_REQUEST, body), "Invalid account");
        assert_eq!(failure_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
        let long = "x".repeat(500);
        assert_eq!(
            failure_message(StatusCode::BAD_GATEWAY, long.as_bytes()).len(),
            200
        );
    }
}
