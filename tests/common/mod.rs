//! Test harness: the real application on a loopback port over a per-test database.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::services::tenants::{self, CreatedTenant};
use taxpoynt_mono::startup::Application;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub pool: PgPool,
    pub http: reqwest::Client,
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

pub async fn spawn_app_with(pool: PgPool, settings: Settings) -> TestApp {
    let tenant = tenants::create_tenant(&pool, "Acme Test Org")
        .await
        .expect("tenant created");
    spawn_app_on(pool, settings, tenant).await
}

/// Another application (a second replica) on the same database, for an existing tenant.
pub async fn spawn_app_on(pool: PgPool, settings: Settings, tenant: CreatedTenant) -> TestApp {
    taxpoynt_mono::telemetry::init(settings.log_format);
    let app = Application::build_with_pool(settings, pool.clone())
        .await
        .expect("app builds");
    let addr = app.addr();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        base: format!("http://{addr}"),
        pool,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        tenant,
        shutdown,
        server,
    }
}

impl TestApp {
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

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(self.key())
            .send()
            .await
            .unwrap();
        split(resp).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(self.key())
            .json(&body)
            .send()
            .await
            .unwrap();
        split(resp).await
    }
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: std::time::Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

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

/// The app wired to a fresh Mono sandbox on loopback.
pub struct SandboxApp {
    pub app: TestApp,
    pub sandbox: taxpoynt_mono::sandbox::SandboxHandle,
}

pub fn sandbox_config() -> taxpoynt_mono::sandbox::SandboxConfig {
    taxpoynt_mono::sandbox::SandboxConfig {
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
    config: taxpoynt_mono::sandbox::SandboxConfig,
    extra: &[(&str, &str)],
) -> SandboxApp {
    let secret = config.secret_key.clone();
    let sandbox = taxpoynt_mono::sandbox::Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
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
    pub fn control(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url.as_str().trim_end_matches('/'), path)
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .app
            .http
            .post(self.control(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "sandbox control {path}: {status} {body}");
        body
    }

    /// A new sandbox account with `transactions` transactions, linked to the app's tenant
    /// in `env` through the public exchange endpoint. Returns the account id.
    pub async fn link_new_account(&self, transactions: usize) -> String {
        let made = self
            .control_post(
                "/_sandbox/accounts",
                serde_json::json!({"transactions": transactions}),
            )
            .await;
        let code = made["data"]["code"].as_str().expect("code").to_string();
        let (status, body) = self
            .app
            .post("/si/mono/exchange", serde_json::json!({"code": code}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }
}
