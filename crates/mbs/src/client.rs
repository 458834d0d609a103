//! The MBS client: one `reqwest::Client` with a timeout, `x-api-key`/`x-api-secret` on the
//! protected calls, success read from MBS's envelope (`{"code", "data"}`, health's bare
//! body), failures classified once (`error::classify`). Calls that change nothing (health,
//! resources, confirm, download) are retried a bounded number of times with jitter when MBS
//! is unavailable; calls that submit or change something never are: their caller settles an
//! unknown outcome by asking (`confirm`).
//!
//! Every attempt first takes a token of the request budget shared by all replicas (when the
//! client has one, [`MbsClient::with_budget`]); a 429, or a 503 with `Retry-After`, pauses
//! that budget, so every replica slows down together. Budget waits and retry sleeps end at
//! shutdown ([`MbsClient::with_shutdown`]).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use request_budget::{BudgetError, RequestBudget};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::error::{classify, CallKind, MbsError};
use crate::types::{Confirmation, Invoice, IrnCheck, PaymentStatus, TaxpayerInfo};

/// Where MBS is and how to call it (`MBS_BASE_URL`, `MBS_API_KEY`, `MBS_API_SECRET`,
/// `MBS_TIMEOUT_MS`).
#[derive(Clone)]
pub struct MbsConfig {
    pub base_url: Url,
    pub api_key: SecretString,
    pub api_secret: SecretString,
    pub timeout: Duration,
    /// Retries of a call that changes nothing, when MBS is unavailable.
    pub max_retries: u32,
}

impl std::fmt::Debug for MbsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbsConfig")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// A downloaded invoice as MBS sent it (its format is not settled across sources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub bytes: bytes::Bytes,
    pub content_type: Option<String>,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
}

/// Longest `Retry-After` that pauses the shared budget; a longer ask is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct MbsClient {
    http: reqwest::Client,
    config: MbsConfig,
    /// The request budget every attempt takes a token from; none: unlimited.
    budget: Option<Arc<dyn RequestBudget>>,
    /// Ends budget waits and retry sleeps early.
    shutdown: CancellationToken,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Ok {
    #[serde(default)]
    ok: bool,
}

/// Whether a call may be sent again after an unknown outcome.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Never,
}

impl MbsClient {
    pub fn new(config: MbsConfig) -> Result<Self, MbsError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect would carry the API key and secret to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MbsError::Unavailable(format!("the HTTP client could not be built: {e}")))?;
        Ok(MbsClient {
            http,
            config,
            budget: None,
            shutdown: CancellationToken::new(),
        })
    }

    /// Every attempt takes a token of `budget` first (without one, calls are not budgeted).
    pub fn with_budget(mut self, budget: Arc<dyn RequestBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Budget waits and retry sleeps end when `shutdown` is cancelled: the call then fails
    /// with [`MbsError::NotCalled`] (nothing was sent on that attempt).
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The request budget, when calls take one.
    pub fn budget(&self) -> Option<&Arc<dyn RequestBudget>> {
        self.budget.as_ref()
    }

    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// `GET /api`: true when MBS says it is healthy.
    pub async fn health(&self) -> Result<bool, MbsError> {
        #[derive(Deserialize)]
        struct Health {
            healthy: bool,
        }
        let body = self
            .call(Method::GET, "/api", None, false, CallKind::Other, Repeat::Safe)
            .await?;
        let h: Health = read(&body.1)?;
        Ok(h.healthy)
    }

    /// A resource list (`invoice-types`, `tax-categories`, …) as MBS sends it.
    pub async fn resources(&self, name: &str) -> Result<Vec<Value>, MbsError> {
        let path = format!("/api/v1/invoice/resources/{name}");
        self.data(Method::GET, &path, None, false, CallKind::Other, Repeat::Safe)
            .await
    }

    /// `irn/validate`: the IRN fits the business's template.
    pub async fn validate_irn(&self, check: &IrnCheck) -> Result<(), MbsError> {
        self.submit("/api/v1/invoice/irn/validate", check).await
    }

    /// `validate`: MBS checks the invoice without registering it.
    pub async fn validate(&self, invoice: &Invoice) -> Result<(), MbsError> {
        self.submit("/api/v1/invoice/validate", invoice).await
    }

    /// `sign`: the submission. Never sent again by this client; on
    /// [`MbsError::outcome_unknown`] ask [`MbsClient::confirm`].
    pub async fn sign(&self, invoice: &Invoice) -> Result<(), MbsError> {
        self.submit("/api/v1/invoice/sign", invoice).await
    }

    /// `confirm/{IRN}`: what MBS holds of a submitted invoice; `UnknownIrn` when nothing.
    pub async fn confirm(&self, irn: &str) -> Result<Confirmation, MbsError> {
        let path = format!("/api/v1/invoice/confirm/{}", segment(irn));
        self.data(Method::GET, &path, None, true, CallKind::AboutIrn, Repeat::Safe)
            .await
    }

    /// `update/{IRN}`: the invoice's payment status.
    pub async fn update(
        &self,
        irn: &str,
        status: PaymentStatus,
        reference: Option<&str>,
    ) -> Result<(), MbsError> {
        let path = format!("/api/v1/invoice/update/{}", segment(irn));
        let mut body = serde_json::json!({ "payment_status": status });
        if let Some(r) = reference {
            body["reference"] = Value::String(r.to_owned());
        }
        self.ok(Method::PATCH, &path, Some(body), CallKind::AboutIrn)
            .await
    }

    /// `download/{IRN}`: the bytes as sent, their type and hash.
    pub async fn download(&self, irn: &str) -> Result<Download, MbsError> {
        let path = format!("/api/v1/invoice/download/{}", segment(irn));
        let (content_type, bytes) = self
            .call(Method::GET, &path, None, true, CallKind::AboutIrn, Repeat::Safe)
            .await?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Download {
            bytes,
            content_type,
            sha256,
        })
    }

    /// `transmit/{IRN}`: the B2B/B2G exchange.
    pub async fn transmit(&self, irn: &str) -> Result<(), MbsError> {
        let path = format!("/api/v1/invoice/transmit/{}", segment(irn));
        self.ok(Method::POST, &path, None, CallKind::AboutIrn).await
    }

    /// `utilities/verify-tin/`: what MBS knows of a taxpayer.
    pub async fn verify_tin(&self, tin: &str) -> Result<TaxpayerInfo, MbsError> {
        let body = serde_json::json!({ "tin": tin });
        self.data(
            Method::POST,
            "/api/v1/utilities/verify-tin/",
            Some(body),
            true,
            CallKind::Other,
            Repeat::Safe,
        )
        .await
    }

    /// A submission (`irn/validate`, `validate`, `sign`): posted once, answered `data.ok`.
    async fn submit(&self, path: &str, body: &impl serde::Serialize) -> Result<(), MbsError> {
        let body = serde_json::to_value(body).map_err(|e| MbsError::Decode(e.to_string()))?;
        self.ok(Method::POST, path, Some(body), CallKind::Submission)
            .await
    }

    async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        kind: CallKind,
    ) -> Result<(), MbsError> {
        let ok: Ok = self.data(method, path, body, true, kind, Repeat::Never).await?;
        if ok.ok {
            Ok(())
        } else {
            Err(MbsError::Decode(format!("{path} answered without data.ok")))
        }
    }

    async fn data<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        keyed: bool,
        kind: CallKind,
        repeat: Repeat,
    ) -> Result<T, MbsError> {
        let (_, bytes) = self.call(method, path, body, keyed, kind, repeat).await?;
        let envelope: Envelope<T> = read(&bytes)?;
        Ok(envelope.data)
    }

    /// One call, retried while MBS is unavailable when `repeat` allows; the answer's content
    /// type and bytes, or the classified error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        keyed: bool,
        kind: CallKind,
        repeat: Repeat,
    ) -> Result<(Option<String>, bytes::Bytes), MbsError> {
        let url = self
            .config
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| MbsError::Decode(format!("{path}: {e}")))?;
        let mut attempt = 0;
        loop {
            if let Some(budget) = &self.budget {
                budget.acquire(&self.shutdown).await.map_err(|e| match e {
                    BudgetError::Cancelled => MbsError::NotCalled("the service is shutting down".into()),
                    e @ BudgetError::Store(_) => MbsError::NotCalled(e.to_string()),
                })?;
            }
            let mut request = self.http.request(method.clone(), url.clone());
            if keyed {
                request = request
                    .header("x-api-key", self.config.api_key.expose_secret())
                    .header("x-api-secret", self.config.api_secret.expose_secret());
            }
            if let Some(b) = &body {
                request = request.json(b);
            }
            let result = match request.send().await {
                Ok(resp) => answer(resp, kind, path).await,
                Err(e) if e.is_timeout() => Err((MbsError::TimedOut(format!("{path} timed out")), None)),
                Err(e) => Err((
                    MbsError::Unavailable(format!("{path}: {}", without_url(&e))),
                    None,
                )),
            };
            let result = match result {
                Ok(answer) => Ok(answer),
                Err((e, retry_after)) => {
                    // MBS asked every caller to wait: the whole fleet pauses, not only this call.
                    if let (Some(budget), Some(after)) = (&self.budget, retry_after) {
                        budget.pause(after).await;
                    }
                    Err(e)
                }
            };
            match result {
                Err(e)
                    if e.outcome_unknown() && repeat == Repeat::Safe && attempt < self.config.max_retries =>
                {
                    attempt += 1;
                    let wait = Duration::from_millis(200 * 2u64.pow(attempt - 1));
                    let jitter = rand::thread_rng().gen_range(0.8..1.2);
                    tracing::warn!(path, attempt, error = %e, "MBS unavailable; trying again");
                    tokio::select! {
                        () = self.shutdown.cancelled() => return Err(e),
                        () = tokio::time::sleep(wait.mul_f64(jitter)) => {}
                    }
                }
                other => return other,
            }
        }
    }
}

/// A failed answer: the error, and the `Retry-After` MBS asked for with a 429 or a 503.
type Failed = (MbsError, Option<Duration>);

async fn answer(
    resp: reqwest::Response,
    kind: CallKind,
    path: &str,
) -> Result<(Option<String>, bytes::Bytes), Failed> {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let pause = retry_after
        .filter(|_| {
            matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
        })
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    let bytes = resp.bytes().await.map_err(|e| {
        let text = format!("{path}: the answer was cut: {}", without_url(&e));
        let error = if e.is_timeout() {
            MbsError::TimedOut(text)
        } else {
            MbsError::Unavailable(text)
        };
        (error, None)
    })?;
    if status.is_success() {
        return Ok((content_type, bytes));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err((
            MbsError::RateLimited {
                retry_after_secs: retry_after,
            },
            pause,
        ));
    }
    Err((classify(status.as_u16(), &bytes, kind, path), pause))
}

fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, MbsError> {
    serde_json::from_slice(bytes).map_err(|e| MbsError::Decode(e.to_string()))
}

/// A path segment: an IRN is letters, digits and `-`, but nothing else may change the path.
fn segment(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// reqwest's error text without the URL (it can carry a query a log should not).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}
