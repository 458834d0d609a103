//! The application under test: `TestApp`, started by the one builder
//! (`TestApp::builder(pool)`) with typed settings over the test defaults, on a loopback port
//! with a tenant of its own (or a given one), optionally wired to a Mono sandbox; and its
//! replicas, more applications on the same database, tenant and settings.

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http::no_redirects;
use super::sandbox::SandboxConfig;
use super::{
    sandbox_config, start_sandbox, telemetry, tenants, Application, CreatedTenant, SandboxApp, Settings,
};

/// `MONO_WEBHOOK_SECRET` of every test app that sets no other.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// The settings every test app starts from, as the variables the service reads.
const DEFAULTS: &[(&str, &str)] = &[
    ("DATABASE_URL", "postgres://unused@127.0.0.1/unused"),
    ("BIND_ADDR", "127.0.0.1:0"),
    ("MONO_WEBHOOK_SECRET", WEBHOOK_SECRET),
    // Tests call fast and often with one key; the limits have tests of their own.
    ("API_RATE_LIMIT", "0"),
    ("MONO_REFRESH_COOLDOWN_SECS", "0"),
    // A link queues no sync of its own, so a test's syncs are the ones it asks for; the
    // fleet tests turn it on.
    ("MONO_SYNC_ON_LINK", "false"),
    // The request budgets towards Mono and MBS have tests of their own (`budget`).
    ("MONO_MAX_RPS", "0"),
    ("MBS_MAX_RPS", "0"),
    // MBS code lists are fetched when a test asks for them, not by a task racing it.
    ("MBS_RESOURCES_CHECK_SECS", "0"),
    // MBS crypto keys are stored sealed with it (`TEST_DATA_KEY`).
    ("DATA_ENCRYPTION_KEY", TEST_DATA_KEY),
];

/// `DATA_ENCRYPTION_KEY` of every test app that sets no other: 32 bytes of 0x2a, base64.
pub const TEST_DATA_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// Settings as the service's variables, later ones replacing earlier ones of a name.
#[derive(Debug, Clone, Default)]
struct Vars(Vec<(String, String)>);

impl Vars {
    fn set(&mut self, name: &str, value: String) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_owned(), value));
    }

    /// These over `under`.
    fn over(self, mut under: Vars) -> Vars {
        for (name, value) in self.0 {
            under.set(&name, value);
        }
        under
    }

    fn defaults() -> Vars {
        let mut vars = Vars::default();
        for (name, value) in DEFAULTS {
            vars.set(name, value.to_string());
        }
        vars
    }

    /// The service's settings from these variables alone (no process environment).
    fn settings(&self) -> Settings {
        let vars = self.0.clone();
        Settings::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("test settings are valid")
    }
}

/// The application serving in the background, and the tenant tests call it as.
pub struct TestApp {
    base: String,
    pub pool: PgPool,
    http: reqwest::Client,
    pub tenant: CreatedTenant,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<anyhow::Result<()>>,
    /// What it was started with, defaults included: where its replicas start from.
    vars: Vars,
}

/// A builder whose app has no Mono of the test's making: the configured one (the default, or
/// what [`TestAppBuilder::mono`] names).
pub struct NoSandbox;

/// The one way tests start the application: `TestApp::builder(pool)`, the settings a test
/// varies, then `.start().await`. Unset settings are the test defaults: loopback port 0, the
/// webhook secret [`WEBHOOK_SECRET`], no API rate limit, no refresh cooldown, no sync on
/// link, no request budget towards Mono. `.with_sandbox()` wires the app to a Mono sandbox of
/// its own (3 s timeout, 2 retries) and `start` then answers a [`SandboxApp`].
#[must_use]
pub struct TestAppBuilder<M = NoSandbox> {
    pool: PgPool,
    /// What the test set, over the defaults (and the sandbox's).
    vars: Vars,
    tenant: Option<CreatedTenant>,
    mono: M,
}

impl TestApp {
    pub fn builder(pool: PgPool) -> TestAppBuilder {
        TestAppBuilder {
            pool,
            vars: Vars::default(),
            tenant: None,
            mono: NoSandbox,
        }
    }

    /// A second application on the same database (pool), tenant and settings, the sandbox's
    /// address included: another replica of one deployment, with process state (caches, job
    /// worker, sync slots) of its own. The builder can still change what this one differs in.
    pub fn replica(&self) -> TestAppBuilder {
        TestAppBuilder {
            pool: self.pool.clone(),
            vars: self.vars.clone(),
            tenant: Some(self.tenant.clone()),
            mono: NoSandbox,
        }
    }

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
    /// The binary serving as a replica of this app (as a process of its own, for a test that
    /// kills it): the app's settings as its variables, the database at `database_url`, no
    /// scheduled sweep unless the app has one. [`super::Service::start`] picks its port.
    pub fn process(&self, database_url: &str) -> std::process::Command {
        let mut command = std::process::Command::new(super::BIN);
        command.arg("serve").env_remove("MONO_SYNC_INTERVAL_SECS");
        for (name, value) in &self.vars.0 {
            command.env(name, value);
        }
        command.env("DATABASE_URL", database_url);
        command
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key())
    }
}

/// Whole seconds of `d` for a `*_SECS` variable.
fn secs(name: &str, d: Duration) -> u64 {
    assert_eq!(d.subsec_nanos(), 0, "{name} takes whole seconds: {d:?}");
    d.as_secs()
}

impl<M> TestAppBuilder<M> {
    /// `name=value` for a setting no typed method covers: one test's own need.
    pub fn setting(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.set(name, value.to_string());
        self
    }

    /// The tenant the app is called as (default: a new organization, "Acme Test Org").
    pub fn tenant(mut self, tenant: CreatedTenant) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// `MONO_SYNC_ON_LINK` (tests: false).
    pub fn sync_on_link(self, on: bool) -> Self {
        self.setting("MONO_SYNC_ON_LINK", on)
    }

    /// `MONO_SYNC_CONCURRENCY`: syncs at once on this replica.
    pub fn sync_concurrency(self, n: u32) -> Self {
        self.setting("MONO_SYNC_CONCURRENCY", n)
    }

    /// `JOB_CONCURRENCY`: background jobs at once; 0 runs no job worker.
    pub fn job_concurrency(self, n: u32) -> Self {
        self.setting("JOB_CONCURRENCY", n)
    }

    /// `MONO_MAX_RPS`: the request budget towards Mono, all replicas together (tests: 0,
    /// none).
    pub fn max_rps(self, n: u32) -> Self {
        self.setting("MONO_MAX_RPS", n)
    }

    /// `MONO_MAX_RETRIES`.
    pub fn max_retries(self, n: u32) -> Self {
        self.setting("MONO_MAX_RETRIES", n)
    }

    /// `MONO_TIMEOUT_MS`: one call to Mono.
    pub fn mono_timeout(self, timeout: Duration) -> Self {
        self.setting("MONO_TIMEOUT_MS", timeout.as_millis())
    }

    /// `MONO_BASE_URL` and `MONO_SECRET_KEY`: a Mono of the test's own (wiremock, say).
    pub fn mono(self, base_url: &str, secret_key: &str) -> Self {
        self.setting("MONO_BASE_URL", base_url)
            .setting("MONO_SECRET_KEY", secret_key)
    }

    /// `MBS_BASE_URL`, `MBS_API_KEY` and `MBS_API_SECRET`: an MBS of the test's own.
    pub fn mbs(self, base_url: &str, api_key: &str, api_secret: &str) -> Self {
        self.setting("MBS_BASE_URL", base_url)
            .setting("MBS_API_KEY", api_key)
            .setting("MBS_API_SECRET", api_secret)
    }

    /// `MBS_MAX_RPS`: the request budget towards MBS, all replicas together (tests: 0, none).
    pub fn mbs_max_rps(self, n: u32) -> Self {
        self.setting("MBS_MAX_RPS", n)
    }

    /// `DATA_ENCRYPTION_KEY` (tests: [`TEST_DATA_KEY`]); `None` leaves it unset.
    pub fn data_encryption_key(self, key: Option<&[u8; 32]>) -> Self {
        use base64::Engine;
        let value = key
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k))
            .unwrap_or_default();
        self.setting("DATA_ENCRYPTION_KEY", value)
    }

    /// `MONO_WIDGET_BASE_URL`.
    pub fn widget_base_url(self, url: &str) -> Self {
        self.setting("MONO_WIDGET_BASE_URL", url)
    }

    /// `MONO_SYNC_BUDGET_SECS`: how long one sync call runs before it answers `hasMore`.
    pub fn sync_budget(self, budget: Duration) -> Self {
        let s = secs("MONO_SYNC_BUDGET_SECS", budget);
        self.setting("MONO_SYNC_BUDGET_SECS", s)
    }

    /// `MONO_SYNC_INTERVAL_SECS`: the scheduled sync's sweep (tests: none).
    pub fn sync_interval(self, interval: Duration) -> Self {
        let s = secs("MONO_SYNC_INTERVAL_SECS", interval);
        self.setting("MONO_SYNC_INTERVAL_SECS", s)
    }

    /// `MONO_REFRESH_COOLDOWN_SECS` (tests: 0, none).
    pub fn refresh_cooldown(self, cooldown: Duration) -> Self {
        let s = secs("MONO_REFRESH_COOLDOWN_SECS", cooldown);
        self.setting("MONO_REFRESH_COOLDOWN_SECS", s)
    }

    /// `API_RATE_LIMIT` and `API_RATE_BURST` (tests: no limit).
    pub fn rate_limit(self, per_second: u32, burst: u32) -> Self {
        self.setting("API_RATE_LIMIT", per_second)
            .setting("API_RATE_BURST", burst)
    }

    /// `MONO_VERIFY_SIGNATURE` (default true).
    pub fn verify_signature(self, on: bool) -> Self {
        self.setting("MONO_VERIFY_SIGNATURE", on)
    }

    /// `SIGNING_KEY`: the Ed25519 seed invoices are signed with.
    pub fn signing_key(self, seed: &[u8; 32]) -> Self {
        use base64::Engine;
        let seed = base64::engine::general_purpose::STANDARD.encode(seed);
        self.setting("SIGNING_KEY", seed)
    }

    /// `METRICS_ADDR`: `/metrics` on an address of its own.
    pub fn metrics_addr(self, addr: SocketAddr) -> Self {
        self.setting("METRICS_ADDR", addr)
    }

    /// `SHUTDOWN_TIMEOUT_SECS`: how long requests and jobs get to finish at shutdown.
    pub fn shutdown_timeout(self, timeout: Duration) -> Self {
        let s = secs("SHUTDOWN_TIMEOUT_SECS", timeout);
        self.setting("SHUTDOWN_TIMEOUT_SECS", s)
    }
}

impl TestAppBuilder<NoSandbox> {
    /// Wires the app to a Mono sandbox of its own ([`sandbox_config`]).
    pub fn with_sandbox(self) -> TestAppBuilder<SandboxConfig> {
        self.sandbox(sandbox_config())
    }

    /// Wires the app to a Mono sandbox of its own, made with `config`.
    pub fn sandbox(self, config: SandboxConfig) -> TestAppBuilder<SandboxConfig> {
        TestAppBuilder {
            pool: self.pool,
            vars: self.vars,
            tenant: self.tenant,
            mono: config,
        }
    }

    /// The settings the app would start with.
    pub fn settings(&self) -> Settings {
        self.vars.clone().over(Vars::defaults()).settings()
    }

    /// The application built over the pool with these settings but not started: its state is
    /// for calling the sweep, the job claim or a worker by hand.
    pub async fn application(self) -> Application {
        Application::build_with_pool(self.settings(), self.pool)
            .await
            .expect("app builds")
    }

    /// Starts the app serving in the background, with a tenant of its own unless one was given.
    pub async fn start(self) -> TestApp {
        let tenant = match self.tenant {
            Some(tenant) => tenant,
            None => tenants::create_tenant(&self.pool, "Acme Test Org")
                .await
                .expect("tenant created"),
        };
        let vars = self.vars.over(Vars::defaults());
        let settings = vars.settings();
        telemetry::init(settings.log_format);
        let app = Application::build_with_pool(settings, self.pool.clone())
            .await
            .expect("app builds");
        let addr = app.addr();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            base: format!("http://{addr}"),
            pool: self.pool,
            http: no_redirects(),
            tenant,
            shutdown,
            server,
            vars,
        }
    }
}

impl TestAppBuilder<SandboxConfig> {
    /// Starts the sandbox, then the app wired to it.
    pub async fn start(self) -> SandboxApp {
        let secret = self.mono.secret_key.clone();
        let sandbox = start_sandbox(self.mono).await;
        let mut wired = Vars::default();
        wired.set("MONO_BASE_URL", sandbox.base_url.to_string());
        wired.set("MONO_SECRET_KEY", secret);
        wired.set("MONO_TIMEOUT_MS", "3000".into());
        wired.set("MONO_MAX_RETRIES", "2".into());
        // MBS's sandbox on the same port, with its demo business's keys (the business itself
        // is made when a test asks for it: `SandboxApp::mbs_business`).
        wired.set("MBS_BASE_URL", sandbox.base_url.to_string());
        wired.set("MBS_API_KEY", sandbox::mbs::state::DEMO_API_KEY.into());
        wired.set("MBS_API_SECRET", sandbox::mbs::state::DEMO_API_SECRET.into());
        wired.set("MBS_TIMEOUT_MS", "3000".into());
        let builder = TestAppBuilder {
            pool: self.pool,
            vars: self.vars.over(wired),
            tenant: self.tenant,
            mono: NoSandbox,
        };
        let app = builder.start().await;
        SandboxApp { app, sandbox }
    }
}
