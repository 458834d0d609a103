//! Load generator for the sync path: for each size, a fresh database, a sandbox account of that
//! many transactions, and `POST /si/mono/sync` (pageSize 500) over loopback until done. Prints
//! transactions per second end to end and the process's peak RSS during each sync.
//!
//! `cargo run --release --example sync_load -- [SIZE ...]` (default 10000 100000), with
//! DATABASE_URL naming a server where databases may be created (scripts/pg.sh finds one:
//! `bash scripts/bench-sync.sh`).

mod common;

use std::time::Instant;

use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::services::tenants;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
        if args.is_empty() {
            vec![10_000, 100_000]
        } else {
            args
        }
    };
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
    println!("size\tpages\tseconds\ttx/s\tdrafted\tdlq\tpeak_rss_mib\trss_before_mib");
    for size in sizes {
        let db = format!("taxpoynt_bench_{}_{size}", std::process::id());
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
            "RUST_LOG" => None,
            _ => None,
        })?;
        let served = common::Served::start(settings).await?;
        let pool = served.pool();
        let base = served.base.clone();
        let tenant = tenants::create_tenant(&pool, "Bench Org").await?;

        let account_id =
            common::link_sandbox_account(&http, &sandbox.base_url, &base, &tenant.api_key, size, 11).await?;

        let rss_before = common::status_kib("VmRSS:");
        common::reset_peak();
        let started = Instant::now();
        let (mut fetched, mut drafted, mut dlq, mut calls) = (0u64, 0u64, 0u64, 0u32);
        loop {
            let resp: Value = http
                .post(format!("{base}/si/mono/sync"))
                .bearer_auth(&tenant.api_key)
                .json(&json!({"accountId": account_id, "pageSize": 500}))
                .send()
                .await?
                .json()
                .await?;
            let d = &resp["data"];
            anyhow::ensure!(d.is_object(), "sync failed: {resp}");
            fetched += d["fetched"].as_u64().unwrap_or(0);
            drafted += d["drafted"].as_u64().unwrap_or(0);
            dlq += d["dlq"].as_u64().unwrap_or(0);
            calls += 1;
            if d["hasMore"] != true {
                break;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let peak = common::status_kib("VmHWM:");
        anyhow::ensure!(
            fetched as usize == size,
            "fetched {fetched} of {size} in {calls} calls"
        );
        println!(
            "{size}\t{}\t{secs:.2}\t{:.0}\t{drafted}\t{dlq}\t{:.1}\t{:.1}",
            size.div_ceil(500),
            fetched as f64 / secs,
            peak as f64 / 1024.0,
            rss_before as f64 / 1024.0
        );
        served.stop().await;
        pool.close().await;
        common::drop_database(&mut admin, &db).await?;
    }
    Ok(())
}
