//! What the benchmark examples share: a fresh database per run, a sandbox account linked
//! through the service's own exchange, and the process's memory figures (Linux). Each example
//! uses a part of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

/// The allocator the service's binary runs with (`src/main.rs`), so a service an example
/// hosts in-process allocates as it does in production (glibc's malloc took about a tenth of the
/// lists' CPU in `list_load`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A field of /proc/self/status in KiB (`VmRSS:`, `VmHWM:`); 0 where there is none.
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resets the peak-RSS mark so each run is measured on its own (Linux).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Creates database `name` on the server of `master` (dropping one a run before left behind);
/// answers its URL and the connection to drop it with afterwards (`drop_database`).
pub async fn fresh_database(master: &str, name: &str) -> anyhow::Result<(url::Url, PgConnection)> {
    let mut admin = PgConnection::connect(master).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(master)?;
    url.set_path(name);
    Ok((url, admin))
}

pub async fn drop_database(admin: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin)
        .await?;
    Ok(())
}

/// Makes a sandbox account of `transactions` transactions (`POST /_sandbox/accounts`) and
/// links it through the service's `POST /si/mono/exchange`; answers the account's id.
pub async fn link_sandbox_account(
    http: &reqwest::Client,
    sandbox_url: &url::Url,
    service: &str,
    api_key: &str,
    transactions: usize,
    seed: u64,
) -> anyhow::Result<String> {
    let made: Value = http
        .post(format!("{sandbox_url}_sandbox/accounts"))
        .json(&json!({"transactions": transactions, "seed": seed}))
        .send()
        .await?
        .json()
        .await?;
    let code = made["data"]["code"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no code: {made}"))?;
    let linked: Value = http
        .post(format!("{service}/si/mono/exchange"))
        .bearer_auth(api_key)
        .json(&json!({"code": code}))
        .send()
        .await?
        .json()
        .await?;
    Ok(linked["data"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{linked}"))?
        .to_string())
}

pub mod seed;
pub mod statements;

/// Posts `body` to `endpoint` as Mono does: signed with `secret` at the current second.
pub async fn post_signed(
    http: &reqwest::Client,
    endpoint: &str,
    secret: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    use mono::signature;
    let ts = chrono::Utc::now().timestamp();
    let sig = signature::sign(secret.as_bytes(), ts, &body);
    http.post(endpoint)
        .header("content-type", "application/json")
        .header(signature::HEADER_TIMESTAMP, ts.to_string())
        .header(signature::HEADER_SIGNATURE, sig)
        .body(body)
        .send()
        .await
}

/// The service built from `settings` and serving on its own port inside this process, as
/// the load examples measure it.
pub struct Served {
    pub state: taxpoynt_mono::state::AppState,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Served {
    /// Builds the application (migrations included) and spawns its server.
    pub async fn start(settings: taxpoynt_mono::config::Settings) -> anyhow::Result<Served> {
        let app = taxpoynt_mono::startup::Application::build(settings).await?;
        let state = app.state().clone();
        let base = format!("http://{}", app.addr());
        let stop = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        Ok(Served {
            state,
            base,
            stop,
            server,
        })
    }

    pub fn pool(&self) -> sqlx::PgPool {
        self.state.db.clone()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}

/// The id of a created organization's `sandbox` environment.
pub fn sandbox_env(created: &taxpoynt_mono::services::tenants::CreatedTenant) -> anyhow::Result<uuid::Uuid> {
    created
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .map(|e| e.id)
        .ok_or_else(|| anyhow::anyhow!("the organization has no sandbox environment"))
}
