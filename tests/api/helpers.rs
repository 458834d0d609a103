//! The test harness: the real application on a loopback port over a per-test database, the
//! Mono sandbox on a loopback port, the HTTP calls tests make, and a small webhook receiver.

use std::future::{ready, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use reqwest::Method;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use url::Url;

// Every path into the crate the tests use is named here and nowhere else, so when a crate
// path moves only this block changes.
use taxpoynt_mono::config::Settings;
pub use taxpoynt_mono::db;
pub use taxpoynt_mono::db::queue as job_queue;
pub use taxpoynt_mono::jobs::LEASE;
pub use taxpoynt_mono::services::tenants;
use taxpoynt_mono::services::tenants::CreatedTenant;
pub use taxpoynt_mono::services::webhooks::job as webhook_job;
pub use taxpoynt_mono::startup::Application;
pub use taxpoynt_mono::state::AppState;
use taxpoynt_mono::telemetry;
pub use taxpoynt_mono::tenancy::Role;
pub use taxpoynt_mono::worker::{self, sweep};
pub use {eligibility, mono, sandbox};

use mono::{MonoClient, MonoConfig};
use sandbox::webhooks::{DeliveryOutcome, DeliveryRecord};
use sandbox::{Sandbox, SandboxConfig, SandboxHandle};

// ----------------------------------------------------------------------------- fixtures

/// The eligibility fixture vectors, a byte copy of the shared ones (CI compares the two).
pub const ELIGIBILITY_CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eligibility/cases.json"
);

/// The eligibility fixture cases as JSON values.
pub fn eligibility_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(ELIGIBILITY_CASES).expect("fixture file readable");
    match serde_json::from_str(&text).expect("fixture file parses") {
        Value::Array(cases) => cases,
        other => panic!("fixture file is not an array: {other}"),
    }
}

// ----------------------------------------------------------------------------- processes

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_taxpoynt-mono");

/// Runs the binary with `args` against the database at `database_url`; answers its output.
pub fn run_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("the binary runs")
}

/// A loopback port that was free a moment ago, for a server that binds it itself (or for
/// an address where nothing listens).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----------------------------------------------------------------------------- waiting

/// How often a wait looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `probe` every 20 ms until it answers `Some`, and answers that; panics naming `what`
/// when `timeout` passes first.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let polling = async {
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    };
    match tokio::time::timeout(timeout, polling).await {
        Ok(value) => value,
        Err(_) => panic!("waited {timeout:?} for {what}"),
    }
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` when `timeout` passes
/// first.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, timeout, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await
}

// ----------------------------------------------------------------------------- HTTP

/// What came back: status, headers and the body's bytes as they were.
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    /// The body as JSON; panics showing it when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("body is not JSON: {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text"))
    }
}

/// A client that never follows redirects: tests look at them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Result<RawResponse> {
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    // An empty body is no body: no `content-length: 0` on a GET.
    if !body.is_empty() {
        request = request.body(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Sends `method url` with `headers` and `body` as given (beyond them only what HTTP needs
/// and reqwest's `accept: */*`; an empty body is no body) and follows no redirect; answers
/// status, headers and body bytes. Panics when nothing answers.
pub async fn raw(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> RawResponse {
    try_raw(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// [`raw`], answering the transport error (nothing listening yet, say) instead of panicking.
pub async fn try_raw(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> reqwest::Result<RawResponse> {
    send(&no_redirects(), method, url, headers, body.into()).await
}

/// `method url` as `key` (none: anonymous) with a JSON `body`; answers the status and the
/// JSON body.
pub async fn call(method: Method, url: &str, key: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let (headers, bytes) = json_request(key, body);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = raw(method, url, &headers, bytes).await;
    (resp.status, resp.json())
}

/// Headers and bytes of a JSON API request: the bearer `key` and the JSON `body`, if any.
fn json_request(key: Option<&str>, body: Option<&Value>) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    if let Some(key) = key {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type", "application/json".to_owned()));
            serde_json::to_vec(body).unwrap()
        }
        None => Vec::new(),
    };
    (headers, bytes)
}

/// Opens the widget page at `mono_url` as a browser would; answers where it redirects to.
pub async fn open_widget(mono_url: &str) -> Url {
    let resp = raw(Method::GET, mono_url, &[], "").await;
    assert_eq!(resp.status, 302, "widget page answered {}", resp.status);
    assert!(
        resp.text().contains("Continue to the app"),
        "HTML fallback: {}",
        resp.text()
    );
    Url::parse(resp.header("location").expect("a redirect has a Location")).unwrap()
}

/// The value of `key` in the query of `url`.
pub fn query_value(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

// ----------------------------------------------------------------------------- the app

pub struct TestApp {
    base: String,
    pub pool: PgPool,
    http: reqwest::Client,
    pub tenant: CreatedTenant,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<anyhow::Result<()>>,
}

/// Settings for tests: loopback port 0 and whatever `extra` variables say.
pub fn test_settings(extra: &[(&str, &str)]) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), "postgres://unused@127.0.0.1/unused".into()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("MONO_WEBHOOK_SECRET".into(), "test-webhook-secret".into()),
        // Tests call fast and often with one key; the limits have tests of their own.
        ("API_RATE_LIMIT".into(), "0".into()),
        ("MONO_REFRESH_COOLDOWN_SECS".into(), "0".into()),
        // A link queues no sync of its own, so a test's syncs are the ones it asks for; the
        // fleet tests turn it on.
        ("MONO_SYNC_ON_LINK".into(), "false".into()),
        // The request budget towards Mono has tests of its own (`budget`).
        ("MONO_MAX_RPS".into(), "0".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.to_string()));
    }
    Settings::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("test settings are valid")
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, test_settings(&[])).await
}

/// The application with `settings`, serving in the background, and a tenant of its own.
pub async fn spawn_app_with(pool: PgPool, settings: Settings) -> TestApp {
    let tenant = tenants::create_tenant(&pool, "Acme Test Org")
        .await
        .expect("tenant created");
    spawn_app_on(pool, settings, tenant).await
}

/// The application with `settings` over `pool`, for an existing `tenant`.
pub async fn spawn_app_on(pool: PgPool, settings: Settings, tenant: CreatedTenant) -> TestApp {
    telemetry::init(settings.log_format);
    let app = Application::build_with_pool(settings, pool.clone())
        .await
        .expect("app builds");
    let addr = app.addr();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://{addr}"),
        pool,
        http: no_redirects(),
        tenant,
        shutdown,
        server,
    }
}

impl TestApp {
    /// The client the app is called with (follows no redirect), for requests built by hand.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn key(&self) -> &str {
        &self.tenant.api_key
    }

    pub fn env_id(&self, name: &str) -> String {
        self.tenant
            .environments
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.id.to_string())
            .expect("environment exists")
    }

    /// The `authorization` value of the tenant's key.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key())
    }

    /// `method path` with `headers` and `body` as given; see [`raw`].
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> RawResponse {
        send(&self.http, method, &self.url(path), headers, body.into())
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `method path` as `key` (none: anonymous) with a JSON `body`; answers the status and
    /// the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (headers, bytes) = json_request(key, body);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = self.raw(method, path, &headers, bytes).await;
        (resp.status, resp.json())
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(self.key()), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(self.key()), Some(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(self.key()), Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, Some(self.key()), None).await
    }

    /// Posts `body` to the webhook endpoint signed with the test settings' secret (the
    /// timestamp form); it must be accepted. Answers the receipt (`data`).
    pub async fn deliver_webhook(&self, body: &Value) -> Value {
        let bytes = serde_json::to_vec(body).unwrap();
        let ts = chrono::Utc::now().timestamp();
        let sig = mono::signature::sign(b"test-webhook-secret", ts, &bytes);
        let resp = self
            .http()
            .post(self.url("/si/mono/webhook"))
            .header("content-type", "application/json")
            .header(mono::signature::HEADER_TIMESTAMP, ts.to_string())
            .header(mono::signature::HEADER_SIGNATURE, sig)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.json::<Value>().await.unwrap()["data"].clone()
    }
}

/// A response's status and JSON body.
pub async fn split(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text}"));
    (status, body)
}

/// Asserts the failure envelope and returns its `error.code`.
pub fn assert_failure(body: &Value) -> String {
    assert_eq!(body["status"], "failed", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["timestamp"].as_str().is_some(), "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(body["traceId"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    body["error"]["code"].as_str().expect("error.code").to_string()
}

/// The URL of the per-test database, for running the binary against it.
pub fn database_url_for(options: &PgConnectOptions) -> String {
    let master = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = url::Url::parse(&master).expect("DATABASE_URL parses");
    url.set_path(options.get_database().expect("test database has a name"));
    url.to_string()
}

/// A TCP forwarder in front of PostgreSQL that a test can cut (an outage) and restore.
pub struct TcpProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl TcpProxy {
    pub async fn start(target: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    break;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut = gen2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        TcpProxy { port, up, generation }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

// ----------------------------------------------------------------------------- the sandbox

/// Starts a Mono sandbox on a free loopback port: the one way tests start it.
pub async fn start_sandbox(config: SandboxConfig) -> SandboxHandle {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Sandbox::start(config, loopback).await.expect("sandbox starts")
}

/// A client with short timeouts and quick retries, so fault tests stay fast.
pub fn client_config(sandbox: &SandboxHandle) -> MonoConfig {
    let mut cfg = sandbox.client_config();
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.timeout = Duration::from_secs(10);
    cfg.max_retries = 3;
    cfg.retry_base_delay = Duration::from_millis(20);
    cfg
}

pub fn client(sandbox: &SandboxHandle) -> MonoClient {
    MonoClient::new(client_config(sandbox)).unwrap()
}

/// The URL of `path` on `sandbox`.
pub fn sandbox_url(sandbox: &SandboxHandle, path: &str) -> String {
    sandbox
        .base_url
        .join(path.trim_start_matches('/'))
        .unwrap()
        .to_string()
}

/// A control call; answers the status and the JSON body.
pub async fn control(
    sandbox: &SandboxHandle,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call(method, &sandbox_url(sandbox, path), None, body.as_ref()).await
}

/// Creates an account through the control API; answers its `data`.
pub async fn create_account(sandbox: &SandboxHandle, body: Value) -> Value {
    let (status, body) = control(sandbox, Method::POST, "/_sandbox/accounts", Some(body)).await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

pub async fn install_fault(sandbox: &SandboxHandle, fault: Value) -> Value {
    let (status, body) = control(sandbox, Method::POST, "/_sandbox/faults", Some(fault)).await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// How many requests the fault `rule` (as `install_fault` answered it) has applied to: a
/// rule with no effect counts the requests to its endpoint.
pub fn fault_applied(sandbox: &SandboxHandle, rule: &Value) -> u64 {
    let id = rule["id"].as_u64().expect("a fault rule has an id");
    let rules = sandbox.state.faults().list();
    rules
        .iter()
        .find(|r| r.id == id)
        .expect("the rule is installed")
        .applied
}

/// The sandbox's delivery log once nothing in it is pending (waits up to 10 s).
pub async fn settled_deliveries(sandbox: &SandboxHandle) -> Vec<DeliveryRecord> {
    wait_for("webhook deliveries to settle", Duration::from_secs(10), || {
        let log = sandbox.state.webhooks().deliveries();
        let settled = log.iter().all(|d| d.outcome != DeliveryOutcome::Pending);
        ready(settled.then_some(log))
    })
    .await
}

// ----------------------------------------------------------------------------- app + sandbox

/// The app wired to a fresh Mono sandbox on loopback.
pub struct SandboxApp {
    pub app: TestApp,
    pub sandbox: SandboxHandle,
}

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        customers: 3,
        accounts_per_customer: 3,
        transactions_per_account: 300,
        ..Default::default()
    }
}

pub async fn spawn_app_with_sandbox(pool: PgPool) -> SandboxApp {
    spawn_app_with_sandbox_config(pool, sandbox_config(), &[]).await
}

pub async fn spawn_app_with_sandbox_config(
    pool: PgPool,
    config: SandboxConfig,
    extra: &[(&str, &str)],
) -> SandboxApp {
    let secret = config.secret_key.clone();
    let sandbox = start_sandbox(config).await;
    let base = sandbox.base_url.to_string();
    let mut vars: Vec<(&str, &str)> = vec![
        ("MONO_BASE_URL", base.as_str()),
        ("MONO_SECRET_KEY", secret.as_str()),
        ("MONO_TIMEOUT_MS", "3000"),
        ("MONO_MAX_RETRIES", "2"),
    ];
    vars.extend_from_slice(extra);
    let app = spawn_app_with(pool, test_settings(&vars)).await;
    SandboxApp { app, sandbox }
}

impl SandboxApp {
    /// The URL of a control endpoint of the app's sandbox.
    pub fn control(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url.as_str().trim_end_matches('/'), path)
    }

    /// A control `POST` to the app's sandbox that must succeed; answers the JSON body.
    pub async fn control_post(&self, path: &str, body: Value) -> Value {
        let (status, body) = control(&self.sandbox, Method::POST, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "sandbox control {path}: {status} {body}"
        );
        body
    }

    /// A new sandbox account with `transactions` transactions, linked to the app's tenant
    /// through the public exchange endpoint. Returns the account id.
    pub async fn link_new_account(&self, transactions: usize) -> String {
        let made = create_account(&self.sandbox, serde_json::json!({"transactions": transactions})).await;
        let code = made["code"].as_str().expect("code").to_string();
        let (status, body) = self
            .app
            .post("/si/mono/exchange", serde_json::json!({"code": code}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }
}

// ----------------------------------------------------------------------------- client retries

/// Runs `work` and answers its output with the waits the Mono client chose between attempts
/// meanwhile (its `retrying mono call` events), in order.
pub async fn retry_waits<F: Future>(work: F) -> (F::Output, Vec<Duration>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(RetryWaits(waits.clone()));
    let output = work.with_subscriber(subscriber).await;
    let waits = waits.lock().unwrap().clone();
    (output, waits)
}

/// Records the `wait_ms` of each `retrying mono call` event.
struct RetryWaits(Arc<Mutex<Vec<Duration>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RetryWaits {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = RetryFields::default();
        event.record(&mut fields);
        if let ("retrying mono call", Some(ms)) = (fields.message.as_str(), fields.wait_ms) {
            self.0.lock().unwrap().push(Duration::from_millis(ms));
        }
    }
}

#[derive(Default)]
struct RetryFields {
    message: String,
    wait_ms: Option<u64>,
}

impl tracing::field::Visit for RetryFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "wait_ms" {
            self.wait_ms = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

// ----------------------------------------------------------------------------- webhooks

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order, before answering 200.
    script: Arc<Mutex<Vec<u16>>>,
}

/// A webhook receiver on port 0.
pub struct Receiver {
    pub url: Url,
    state: ReceiverState,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    /// Answers `statuses` in turn, then 200 forever.
    pub async fn scripted(statuses: Vec<u16>) -> Self {
        let state = ReceiverState {
            received: Arc::default(),
            script: Arc::new(Mutex::new(statuses)),
        };
        let app = Router::new()
            .route("/si/mono/webhook", post(receive))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: Url::parse(&format!("http://{addr}/si/mono/webhook")).unwrap(),
            state,
            _task: task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `n` deliveries arrived; answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let what = format!("{n} webhook deliveries");
        wait_for(&what, Duration::from_secs(10), || {
            let got = self.received();
            ready((got.len() >= n).then_some(got))
        })
        .await
    }

    /// Waits (up to 10 s) for a delivery of `event`.
    pub async fn wait_for_event(&self, event: &str) -> Received {
        let what = format!("a `{event}` delivery");
        wait_for(&what, Duration::from_secs(10), || {
            ready(self.received().into_iter().find(|r| r.json()["event"] == event))
        })
        .await
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    state.received.lock().unwrap().push(Received { headers, body });
    let mut script = state.script.lock().unwrap();
    if script.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::from_u16(script.remove(0)).unwrap()
    }
}

/// What `sync_to_end` does when another session syncs the account (409 `sync_in_progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBusy {
    /// Waits and asks again (replicas racing for one account).
    Wait,
    /// Fails the test: nothing else should be syncing it.
    Fail,
}

/// Calls `POST /si/mono/sync` page after page until `hasMore` is false; answers how many
/// transactions the calls fetched.
pub async fn sync_to_end(app: &TestApp, account: &str, page_size: u32, busy: WhenBusy) -> u64 {
    let mut fetched = 0;
    for _ in 0..2_000 {
        let (status, body) = app
            .post(
                "/si/mono/sync",
                serde_json::json!({"accountId": account, "pageSize": page_size}),
            )
            .await;
        match status {
            200 => {
                fetched += body["data"]["fetched"].as_u64().unwrap();
                if body["data"]["hasMore"] == false {
                    return fetched;
                }
            }
            409 if busy == WhenBusy::Wait => {
                assert_eq!(body["error"]["code"], "sync_in_progress", "{body}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => panic!("sync of {account} answered {status}: {body}"),
        }
    }
    panic!("the sync of {account} never ended");
}
