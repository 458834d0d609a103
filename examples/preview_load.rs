//! Rule-preview benchmark: a fresh database, a sandbox account of N transactions (default
//! 100,000) synced into the ledger, then `POST /si/mono/allow-deny/preview` (a deny rule, then a
//! floor change) over loopback, five times each. The anchor, measured in the same run, is a
//! bare streamed scan of the same ledger rows (`SELECT account_id, transaction::text`), the
//! floor under any preview that reads them; the ratio is printed.
//!
//! `bash scripts/bench-preview.sh [N]` (a release build; DATABASE_URL as scripts/pg.sh finds it).

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::services::tenants;
use taxpoynt_mono::startup::Application;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let master = std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("DATABASE_URL must be set"))?;
    let sandbox = Sandbox::start(
        SandboxConfig {
            customers: 1,
            accounts_per_customer: 1,
            transactions_per_account: 10,
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let http = reqwest::Client::new();
    let db = format!("taxpoynt_preview_{}", std::process::id());
    let (url, mut admin) = common::fresh_database(&master, &db).await?;
    let settings = Settings::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.to_string()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "MONO_BASE_URL" => Some(sandbox.base_url.to_string()),
        "MONO_SECRET_KEY" => Some(sandbox.state.config().secret_key.clone()),
        // The figures measure the service against the local sandbox, not Mono's budget.
        "MONO_MAX_RPS" => Some("0".into()),
        // serve refuses to start verifying webhooks without a secret; none arrive here.
        "MONO_WEBHOOK_SECRET" => Some("bench-webhook-secret".into()),
        _ => None,
    })?;
    let app = Application::build(settings).await?;
    let pool = app.state().db.clone();
    let base = format!("http://{}", app.addr());
    let stop = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let tenant = tenants::create_tenant(&pool, "Bench Org").await?;
    let env_id = tenant
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .map(|e| e.id)
        .unwrap();

    let account_id =
        common::link_sandbox_account(&http, &sandbox.base_url, &base, &tenant.api_key, size, 11).await?;
    loop {
        let resp: Value = http
            .post(format!("{base}/si/mono/sync"))
            .bearer_auth(&tenant.api_key)
            .json(&json!({"accountId": account_id, "pageSize": 500}))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(resp["data"].is_object(), "sync failed: {resp}");
        if resp["data"]["hasMore"] != true {
            break;
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mono_transactions")
        .fetch_one(&pool)
        .await?;
    println!("stored transactions: {stored}");

    let mut scans = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut rows = sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT account_id, transaction::text FROM mono_transactions WHERE env_id = $1",
        )
        .bind(env_id)
        .fetch(&pool);
        let mut bytes = 0usize;
        while let Some(row) = rows.next().await {
            bytes += row?.1.map_or(0, |t| t.len());
        }
        anyhow::ensure!(bytes > 0);
        scans.push(started.elapsed());
    }
    let scan = median(scans);
    println!("bare scan (anchor): median {:.0} ms", scan.as_secs_f64() * 1000.0);

    for (name, body) in [
        ("deny rule", json!({"list": "deny", "pattern": "payment"})),
        ("floor change", json!({"settings": {"floor": 50}})),
    ] {
        let mut times = Vec::new();
        let mut answer = Value::Null;
        for _ in 0..5 {
            let started = Instant::now();
            answer = http
                .post(format!("{base}/si/mono/allow-deny/preview"))
                .bearer_auth(&tenant.api_key)
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            times.push(started.elapsed());
        }
        anyhow::ensure!(answer["data"]["decided"].as_i64() == Some(stored), "{answer}");
        let m = median(times.clone());
        println!(
            "preview ({name}): median {:.0} ms, best {:.0} ms, {:.2}x the bare scan; changed {}",
            m.as_secs_f64() * 1000.0,
            times.iter().min().unwrap().as_secs_f64() * 1000.0,
            m.as_secs_f64() / scan.as_secs_f64(),
            answer["data"]["changed"]
        );
    }
    stop.cancel();
    let _ = server.await;
    pool.close().await;
    common::drop_database(&mut admin, &db).await?;
    Ok(())
}
