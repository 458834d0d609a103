//! Fleet benchmark: one sync round over N linked accounts (default 2,000), each with new
//! transactions, against the sandbox answering every Mono call after 200 ms, run by one and
//! then two replicas on one PostgreSQL. For each run: a fresh database, the accounts linked
//! under ten organizations, the round started, and the wait until it is finished. The round
//! is started (`--via`) either by one sweep (`sweep`, the default: `sweep::run_once`, the
//! wait until every sync job is finished) or through the API (`sync-stored`: one
//! `POST /si/mono/sync-stored` per organization, each with its own key, all ten at once
//! against the first replica, so ten bulk jobs of 200 accounts share the lanes; the wait
//! until every bulk job is `done`). Prints the round's wall time, accounts/s, Mono requests
//! and requests/s (as the sandbox counted them), 429s the Mono client saw, the busiest second
//! of Mono requests (the sandbox's per-second count), and peak RSS (VmHWM of this process,
//! which holds the sandbox and every replica).
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release --example fleet_sync -- [--accounts 2000] [--replicas 1|2|both]
//!   [--latency-ms 200] [--transactions 5] [--concurrency 32] [--via sweep|sync-stored]
//! ```
//!
//! The replicas' settings come from the environment as `serve` reads them (so `MONO_MAX_RPS`,
//! `DATABASE_MAX_CONNECTIONS`, ... apply), except the database, the bind address, Mono's URL
//! and key (the sandbox's) and `MONO_SYNC_INTERVAL_SECS` (the round is started by hand).
//! `MONO_SYNC_CONCURRENCY` defaults to `--concurrency`, `DATABASE_MAX_CONNECTIONS` to 8 (two
//! replicas of 32 syncs each hold 64 connections of their own beside their pools).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{json, Value};
use sqlx::PgPool;
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::db::accounts::{self, DetailsUpdate};
use taxpoynt_mono::services::tenants;
use taxpoynt_mono::startup::Application;
use taxpoynt_mono::tenancy::{EnvName, Tenant};
use taxpoynt_mono::worker::sweep;

const ORGS: usize = 10;

/// How the round is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Sweep,
    SyncStored,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Sweep => "sweep",
            Via::SyncStored => "sync-stored",
        }
    }
}

struct Args {
    accounts: usize,
    replicas: Vec<usize>,
    latency_ms: u64,
    transactions: usize,
    concurrency: u32,
    via: Via,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        accounts: 2_000,
        replicas: vec![1, 2],
        latency_ms: 200,
        transactions: 5,
        concurrency: 32,
        via: Via::Sweep,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--accounts" => a.accounts = value()?.parse()?,
            "--replicas" => {
                a.replicas = match value()?.as_str() {
                    "both" => vec![1, 2],
                    n => vec![n.parse()?],
                }
            }
            "--latency-ms" => a.latency_ms = value()?.parse()?,
            "--transactions" => a.transactions = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--via" => {
                a.via = match value()?.as_str() {
                    "sweep" => Via::Sweep,
                    "sync-stored" => Via::SyncStored,
                    other => bail!("--via is sweep or sync-stored, not {other}"),
                }
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// Mono responses the service's client has seen (all, and 429s), from its metrics.
fn mono_responses() -> (f64, f64) {
    let text = taxpoynt_mono::telemetry::metrics_handle().render();
    let (mut all, mut limited) = (0.0, 0.0);
    for line in text.lines().filter(|l| l.starts_with("mono_responses_total")) {
        let n: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        all += n;
        if line.contains("status=\"429\"") {
            limited += n;
        }
    }
    (all, limited)
}

/// The replica's settings: the environment, with the benchmark's own values on top.
fn settings(database_url: &str, sandbox: &SandboxHandle, concurrency: u32) -> anyhow::Result<Settings> {
    let forced: HashMap<&str, String> = [
        ("DATABASE_URL", database_url.to_owned()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("MONO_BASE_URL", sandbox.base_url.to_string()),
        ("MONO_SECRET_KEY", sandbox.state.config().secret_key.clone()),
    ]
    .into();
    let defaults: HashMap<&str, String> = [
        ("MONO_SYNC_CONCURRENCY", concurrency.to_string()),
        ("DATABASE_MAX_CONNECTIONS", "8".to_owned()),
        ("MONO_WEBHOOK_SECRET", "fleet-bench".to_owned()),
    ]
    .into();
    Ok(Settings::from_lookup(|k| {
        if k == "MONO_SYNC_INTERVAL_SECS" {
            return None;
        }
        forced
            .get(k)
            .cloned()
            .or_else(|| std::env::var(k).ok())
            .or_else(|| defaults.get(k).cloned())
    })?)
}

/// Starts the round through the API: one `POST /si/mono/sync-stored` per organization, all
/// at once; answers the accounts the bulk jobs hold together.
async fn start_sync_stored(http: &reqwest::Client, api: &str, keys: &[String]) -> anyhow::Result<usize> {
    let url = format!("{api}/si/mono/sync-stored");
    let answers = futures::future::join_all(
        keys.iter()
            .map(|key| http.post(&url).bearer_auth(key).json(&json!({})).send()),
    )
    .await;
    let mut accounts = 0;
    for answer in answers {
        let answer = answer?;
        anyhow::ensure!(
            answer.status() == reqwest::StatusCode::ACCEPTED,
            "sync-stored answered {}",
            answer.status()
        );
        let body: Value = answer.json().await?;
        accounts += body["data"]["accounts"].as_u64().context("accounts")? as usize;
    }
    Ok(accounts)
}

async fn count(pool: &PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let master = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
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
    let create = format!("{}_sandbox/accounts", sandbox.base_url);
    eprintln!(
        "creating {} sandbox accounts of {} transactions",
        args.accounts, args.transactions
    );
    let ids: Vec<String> = futures::stream::iter(0..args.accounts)
        .map(|i| {
            let (http, create) = (&http, &create);
            let transactions = args.transactions;
            async move {
                let made: Value = http
                    .post(create)
                    .json(&json!({"transactions": transactions, "seed": i as u64 + 1}))
                    .send()
                    .await?
                    .json()
                    .await?;
                made["data"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("no account: {made}"))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<anyhow::Result<String>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;

    println!(
        "via\treplicas\taccounts\tconcurrency\tlatency_ms\tseconds\taccounts/s\tmono_requests\trequests/s\tclient_responses\t429s\tdecided\tfailed_jobs\tbacked_off\tpeak_rss_mib\tbudget_rps\tbusiest_second"
    );
    for &replicas in &args.replicas {
        let db = format!("taxpoynt_fleet_{}_{replicas}", std::process::id());
        let (url, mut admin) = common::fresh_database(&master, &db).await?;

        let mut apps = Vec::new();
        for _ in 0..replicas {
            let settings = settings(url.as_str(), &sandbox, args.concurrency)?;
            taxpoynt_mono::telemetry::init(settings.log_format);
            apps.push(Application::build(settings).await?);
        }
        let state = apps[0].state().clone();
        let pool = state.db.clone();
        // The accounts, linked under ten organizations as an exchange stores them.
        let mut tenants_made = Vec::new();
        let mut keys = Vec::new();
        for o in 0..ORGS {
            let t = tenants::create_tenant(&pool, &format!("Fleet Org {o}")).await?;
            let env = t
                .environments
                .iter()
                .find(|e| e.name == "sandbox")
                .context("sandbox environment")?
                .id;
            tenants_made.push(Tenant::system(t.org_id, env, EnvName::Sandbox));
            keys.push(t.api_key.clone());
        }
        let details = DetailsUpdate {
            currency: Some("NGN".into()),
            data_status: Some("AVAILABLE".into()),
            ..DetailsUpdate::default()
        };
        futures::stream::iter(ids.iter().enumerate())
            .map(|(i, id)| {
                let (pool, tenant, details) = (&pool, &tenants_made[i % ORGS], &details);
                async move { accounts::link(pool, tenant, id, None, Some(details)).await }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;

        let api = format!("http://127.0.0.1:{}", apps[0].port());
        let stops: Vec<_> = apps.iter().map(Application::shutdown_token).collect();
        let servers: Vec<_> = apps
            .into_iter()
            .map(|a| tokio::spawn(a.run_until_stopped()))
            .collect();

        let faults = format!("{}_sandbox/faults", sandbox.base_url);
        http.delete(&faults).send().await?.error_for_status()?;
        let rule: Value = http
            .post(&faults)
            .json(&json!({"endpoint": "*", "latency_ms": args.latency_ms}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let rule_id = rule["data"]["id"].as_u64().context("fault rule id")?;
        let (responses_before, limited_before) = mono_responses();

        common::reset_peak();
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let started = Instant::now();
        let finished = match args.via {
            Via::Sweep => {
                let queued = sweep::run_once(&state).await?;
                anyhow::ensure!(queued as usize == ids.len(), "the sweep queued {queued}");
                "SELECT count(*) FROM jobs WHERE kind = 'sync' AND status IN ('queued', 'running')"
            }
            Via::SyncStored => {
                let queued = start_sync_stored(&http, &api, &keys).await?;
                anyhow::ensure!(queued == ids.len(), "sync-stored queued {queued}");
                "SELECT count(*) FROM jobs WHERE kind = 'sync_stored' AND status <> 'done'"
            }
        };
        while count(&pool, finished).await? > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        let peak = common::status_kib("VmHWM:");
        let requests = sandbox
            .state
            .faults()
            .list()
            .iter()
            .find(|r| r.id == rule_id)
            .map_or(0, |r| r.applied);
        let (responses_after, limited_after) = mono_responses();
        // The sandbox's own per-second counts of this round: the budget's proof.
        let busiest = sandbox
            .state
            .limits()
            .view()
            .seconds
            .iter()
            .filter(|s| s.second >= started_unix)
            .map(|s| s.requests)
            .max()
            .unwrap_or(0);
        let decided = count(&pool, "SELECT count(*) FROM mono_transactions").await?;
        let failed = count(
            &pool,
            "SELECT count(*) FROM jobs WHERE kind = 'sync' AND status = 'failed'",
        )
        .await?;
        let backed_off = count(
            &pool,
            "SELECT count(*) FROM mono_accounts WHERE sync_failures > 0",
        )
        .await?;
        println!(
            "{}\t{replicas}\t{}\t{}\t{}\t{secs:.2}\t{:.1}\t{requests}\t{:.1}\t{}\t{}\t{decided}\t{failed}\t{backed_off}\t{:.1}\t{}\t{busiest}",
            args.via.as_str(),
            ids.len(),
            state.settings.sync_concurrency,
            args.latency_ms,
            ids.len() as f64 / secs,
            requests as f64 / secs,
            responses_after - responses_before,
            limited_after - limited_before,
            peak as f64 / 1024.0,
            state.settings.mono.max_rps,
        );
        anyhow::ensure!(
            decided as usize == ids.len() * args.transactions,
            "decided {decided} transactions of {}",
            ids.len() * args.transactions
        );
        if args.via == Via::SyncStored {
            // The bulk jobs' own count of the round agrees with the database.
            let (done, failed, counted): (i64, i64, i64) = sqlx::query_as(
                "SELECT sum((progress->>'done')::bigint)::bigint, sum((progress->>'failed')::bigint)::bigint,
                        sum((progress->>'drafted')::bigint + (progress->>'skipped')::bigint)::bigint
                 FROM jobs WHERE kind = 'sync_stored'",
            )
            .fetch_one(&pool)
            .await?;
            anyhow::ensure!(
                (done + failed) as usize == ids.len() && counted == decided,
                "the bulk jobs counted {done} done, {failed} failed, {counted} transactions"
            );
        }

        http.delete(&faults).send().await?.error_for_status()?;
        for stop in &stops {
            stop.cancel();
        }
        for server in servers {
            let _ = server.await;
        }
        pool.close().await;
        drop(state);
        common::drop_database(&mut admin, &db).await?;
    }
    Ok(())
}
