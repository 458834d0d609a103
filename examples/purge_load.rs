//! The retention purge under load: one environment seeded with a history (`common::seed`, its
//! `created_at` spread over three years, so a retention of 30 days expires almost all of it),
//! the service started in-process over loopback HTTP, and a steady load of what the purge must
//! not starve: signed webhook deliveries (`POST /si/mono/webhook`, open loop at a fixed rate,
//! processed by the job worker) and syncs of sandbox accounts given new transactions before
//! each call (`POST /si/mono/sync`, lanes at a fixed period, each over accounts of its own in
//! turn). Each request's latency counts from when it was due, so a stall is not hidden by the
//! requests it delays.
//!
//! The load runs `--baseline` seconds with no purge, then on through the purge:
//! `services::retention::purge_paced` at the service's default pace unless `--rest`/`--batch`
//! say otherwise, the path the hourly job and the `purge` command take, in windows of
//! `--window` seconds each followed by a pause as long. The pauses are the anchor: a sync
//! lane's work grows as the run goes on (each pass re-reads the account's last two days, and
//! the lane adds to them), so syncs before the purge are cheaper than syncs during it whatever
//! the purge does. Printed: the rows that expire per kind (a dry run) and what the purge did,
//! its time and rows a second, each request kind's p50/p95/p99 in the baseline, the pauses and
//! the purge's windows, with the added p99 against the pauses (target at most 50 ms) and
//! against the baseline, each window's median in order, and each table's size (`pg_total_relation_size`) before, after, and after a plain
//! VACUUM (which makes the space reusable; it does not give it back to the file system).
//!
//! ```text
//! bash scripts/bench-purge.sh                 # 4,200,000 transactions: over 10,000,000 rows expire
//! bash scripts/bench-purge.sh --small         # 20,000 transactions, a quick run
//! cargo run --release --example purge_load -- --rows 200000 --rest 0   # an unpaced purge
//! ```
//!
//! A fresh database (`--database`, default `taxpoynt_purge`) is made and dropped at the end
//! unless `--keep`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use common::seed::{self, SeedOptions};
use common::statements::statement_of;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};
use sqlx::PgPool;
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::services::retention::{self, Pace};
use taxpoynt_mono::services::tenants;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Ledger transactions to seed (each expires as its body, its event, and its invoice or
    /// DLQ record and monitoring event when it made one: about 2.5 rows a transaction).
    #[arg(long, default_value_t = 4_200_000)]
    rows: u64,
    /// Linked accounts the transactions are spread over.
    #[arg(long, default_value_t = 500)]
    accounts: usize,
    /// A quick run: 20,000 transactions over 20 accounts (so the history still spans three
    /// years of slices), 5 s of baseline.
    #[arg(long)]
    small: bool,
    /// The retention the purge applies, in days.
    #[arg(long, default_value_t = 30)]
    retention_days: u32,
    /// Seconds of load before the purge (the baseline).
    #[arg(long, default_value_t = 30)]
    baseline: u64,
    /// Webhook deliveries a second.
    #[arg(long, default_value_t = 20.0)]
    webhooks: f64,
    /// Sandbox accounts synced, one lane each.
    #[arg(long, default_value_t = 2)]
    sync_lanes: usize,
    /// Accounts each sync lane syncs in turn. A sync pass re-reads its account's last two days,
    /// so the more accounts share a lane's new transactions, the slower a sync's work grows
    /// over the run.
    #[arg(long, default_value_t = 5)]
    sync_accounts: usize,
    /// Seconds between one lane's syncs.
    #[arg(long, default_value_t = 2.0)]
    sync_every: f64,
    /// New transactions each sync fetches.
    #[arg(long, default_value_t = 20)]
    sync_new: usize,
    /// Seconds the purge runs before it pauses as long again; the pauses are the anchor the
    /// added p99 is taken against (0: one continuous purge against the baseline).
    #[arg(long, default_value_t = 10.0)]
    window: f64,
    /// Rows a purge batch (default: the service's).
    #[arg(long)]
    batch: Option<i64>,
    /// The purge's rest after each batch, as a multiple of the batch's time (default: the
    /// service's; 0: no pacing).
    #[arg(long)]
    rest: Option<f64>,
    /// The database to make (dropped first if it exists).
    #[arg(long, default_value = "taxpoynt_purge")]
    database: String,
    /// Keep the database at the end.
    #[arg(long)]
    keep: bool,
    /// Write EXPLAIN (ANALYZE, BUFFERS) of a batch of each kind here, taken after
    /// `--explain-after` batches (in a transaction rolled back), beside the statement
    /// retention issued before its indexes.
    #[arg(long)]
    explain: Option<std::path::PathBuf>,
    /// Batches deleted (and rolled back) before the explained one.
    #[arg(long, default_value_t = 200)]
    explain_after: u32,
}

const SECRET: &str = "purge-load-webhook-secret";

/// The tables the purge deletes from or clears bodies in.
const TABLES: [&str; 6] = [
    "mono_transactions",
    "eligibility_events",
    "invoices",
    "dlq_records",
    "monitoring_events",
    "webhook_deliveries",
];

/// One request's outcome: its kind, when it was due (since the load began), its latency.
#[derive(Clone, Copy)]
struct Sample {
    kind: &'static str,
    due: Duration,
    latency: Duration,
    ok: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.small {
        args.rows = 20_000;
        args.accounts = 20;
        args.baseline = args.baseline.min(5);
    }
    anyhow::ensure!(
        args.database
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "--database: letters, digits and _ only"
    );
    anyhow::ensure!(
        args.webhooks > 0.0 && args.sync_every > 0.0 && args.sync_lanes > 0 && args.sync_accounts > 0
    );
    let master = std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("DATABASE_URL must be set"))?;
    let (url, mut admin) = common::fresh_database(&master, &args.database).await?;
    let sandbox = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse()?).await?;
    let settings = Settings::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.to_string()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "MONO_BASE_URL" => Some(sandbox.base_url.to_string()),
        "MONO_SECRET_KEY" => Some(sandbox.state.config().secret_key.clone()),
        "MONO_WEBHOOK_SECRET" => Some(SECRET.into()),
        // The figures measure the purge's effect, not the budgets towards Mono or per key.
        "MONO_MAX_RPS" => Some("0".into()),
        "API_RATE_LIMIT" => Some("0".into()),
        // The lanes sync the accounts themselves.
        "MONO_SYNC_ON_LINK" => Some("false".into()),
        _ => None,
    })?;
    let served = common::Served::start(settings).await?;
    let state = served.state.clone();
    let pool = served.pool();
    let base = served.base.clone();

    let created = tenants::create_tenant(&pool, "Purge Load Org").await?;
    let env_id = common::sandbox_env(&created)?;
    let tenant = seed::tenant_of(&pool, created.org_id, env_id).await?;
    let opts = SeedOptions {
        rows: args.rows,
        accounts: args.accounts,
        progress: (args.rows >= 1_000_000).then_some(Duration::from_secs(30)),
        // As the years of a real history leave it (autovacuum has been through).
        vacuum: true,
        ..SeedOptions::default()
    };
    let seeded = seed::seed(&state, &tenant, &opts).await?;
    println!(
        "seeded {} transactions ({} rows in all) in {:.0} s",
        seeded.ledger,
        seeded.rows(),
        seeded.elapsed.as_secs_f64()
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()?;
    // The sync lanes' accounts, then two that only webhooks post for: a sync and the
    // processing of a delivery of the same account take turns (one account's writes are
    // serialized), so a shared account would measure that wait, not the purge.
    let mut accounts = Vec::new();
    let synced_accounts = args.sync_lanes * args.sync_accounts;
    for n in 0..synced_accounts + 2 {
        let id = common::link_sandbox_account(
            &http,
            &sandbox.base_url,
            &base,
            &created.api_key,
            200,
            n as u64 + 1,
        )
        .await?;
        let synced: Value = sync(&http, &base, &created.api_key, &id).await?;
        anyhow::ensure!(synced["data"].is_object(), "first sync of {id}: {synced}");
        accounts.push(id);
    }
    let hooked = accounts.split_off(synced_accounts);
    let linked_env: uuid::Uuid = sqlx::query_scalar("SELECT env_id FROM mono_accounts WHERE id = $1")
        .bind(&accounts[0])
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(
        linked_env == env_id,
        "the synced accounts are in the seeded environment"
    );

    let days = args.retention_days;
    let dry = retention::purge(&pool, Some(days), &CancellationToken::new(), true)
        .await
        .map_err(|e| anyhow::anyhow!("dry run: {e}"))?;
    let expiring = rows_of(&dry, env_id);
    let expiring_all: u64 = expiring.values().sum();
    println!(
        "expired at {days} days: {expiring_all} rows ({} deleted, {} bodies cleared): {}",
        deleted_of(&expiring),
        expiring_all - deleted_of(&expiring),
        per_kind(&expiring)
    );
    if let Some(dir) = &args.explain {
        explain(&pool, dir, env_id, days, args.explain_after).await?;
    }
    let before = sizes(&pool).await?;

    // The load: from here to the end of the purge.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let load_stop = CancellationToken::new();
    let started = Instant::now();
    let mut load = Vec::new();
    load.push(tokio::spawn(webhooks(
        http.clone(),
        base.clone(),
        hooked,
        args.webhooks,
        started,
        samples.clone(),
        load_stop.clone(),
    )));
    for (lane, accounts) in accounts.chunks(args.sync_accounts).enumerate() {
        load.push(tokio::spawn(sync_lane(
            http.clone(),
            base.clone(),
            sandbox.base_url.to_string(),
            created.api_key.clone(),
            accounts.to_vec(),
            args.sync_new,
            Duration::from_secs_f64(args.sync_every),
            // Lanes spread over the period.
            started + Duration::from_secs_f64(args.sync_every * lane as f64 / args.sync_lanes as f64),
            started,
            samples.clone(),
            load_stop.clone(),
        )));
    }
    println!(
        "load: {:.0} webhook deliveries/s, {} sync lanes every {:.1} s over {} accounts each ({} new transactions a sync); \
         {} s of baseline",
        args.webhooks, args.sync_lanes, args.sync_every, args.sync_accounts, args.sync_new, args.baseline
    );
    tokio::time::sleep(Duration::from_secs(args.baseline)).await;

    let pace = Pace {
        batch: args.batch.unwrap_or(retention::BATCH),
        rest: args.rest.unwrap_or(retention::REST),
    };
    // The purge runs in windows of `--window` seconds, each followed by a pause as long: the
    // pauses are the anchor. A sync lane's work grows with the run (each pass re-reads the
    // account's last two days, which the lane fills with 10 transactions a second), so a
    // baseline taken before the purge compares early syncs with later ones; windows
    // interleaved with the purge's compare like with like. A purge stopped at a window's end
    // starts again from each kind's oldest row (a range read of the retention indexes).
    let window = Duration::from_secs_f64(args.window.max(0.0));
    let purge_from = started.elapsed();
    let mut purged: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut purged_all = 0u64;
    let mut on: Vec<(Duration, Duration)> = Vec::new();
    loop {
        let pause = CancellationToken::new();
        if !window.is_zero() {
            let pause = pause.clone();
            tokio::spawn(async move {
                tokio::time::sleep(window).await;
                pause.cancel();
            });
        }
        let from = started.elapsed();
        let done = retention::purge_paced(&pool, Some(days), &pause, false, pace)
            .await
            .map_err(|e| anyhow::anyhow!("purge: {e}"))?;
        on.push((from, started.elapsed()));
        for (kind, n) in rows_of(&done, env_id) {
            *purged.entry(kind).or_default() += n;
        }
        purged_all += done.iter().flat_map(|e| e.rows.values()).sum::<u64>();
        if !pause.is_cancelled() {
            break;
        }
        tokio::time::sleep(window).await;
    }
    let purge_to = started.elapsed();
    let purge_secs: f64 = on.iter().map(|(a, b)| (*b - *a).as_secs_f64()).sum();
    // As long again after the last window: the last pause.
    tokio::time::sleep(window.min(purge_to - on.last().map_or(purge_to, |w| w.0))).await;
    let load_to = started.elapsed();
    load_stop.cancel();
    for l in load {
        l.await??;
    }
    println!(
        "purge (batch {}, rest {:.2}x the batch's time, {} window(s) of {:.0} s): {purged_all} rows in {purge_secs:.1} s, \
         {:.0} rows/s ({} deleted, {} bodies cleared): {}",
        pace.batch,
        pace.rest,
        on.len(),
        window.as_secs_f64(),
        purged_all as f64 / purge_secs,
        deleted_of(&purged),
        purged.values().sum::<u64>() - deleted_of(&purged),
        per_kind(&purged)
    );

    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let failed = samples.iter().filter(|s| !s.ok).count();
    let in_window = |due: Duration| on.iter().any(|(a, b)| due >= *a && due < *b);
    println!(
        "{:<8} {:>26} {:>26} {:>26} {:>9} {:>9}",
        "requests",
        "baseline p50/p95/p99 (n)",
        "pauses p50/p95/p99 (n)",
        "purging p50/p95/p99 (n)",
        "added p99",
        "vs base"
    );
    for kind in ["webhook", "sync"] {
        let of = |keep: &dyn Fn(Duration) -> bool| {
            let mut v: Vec<Duration> = samples
                .iter()
                .filter(|s| s.ok && s.kind == kind && keep(s.due))
                .map(|s| s.latency)
                .collect();
            v.sort();
            v
        };
        // The first seconds open connections and warm caches: left out of the baseline.
        let warm = Duration::from_secs(args.baseline.min(10) / 5);
        let b = of(&|due| due >= warm && due < purge_from);
        let d = of(&|due| in_window(due));
        // With no pauses (`--window 0`) the baseline is the anchor.
        let p = if window.is_zero() {
            b.clone()
        } else {
            of(&|due| due >= purge_from && due < load_to && !in_window(due))
        };
        let (bp99, pp99, dp99) = (percentile(&b, 0.99), percentile(&p, 0.99), percentile(&d, 0.99));
        let fig = |v: &[Duration]| {
            format!(
                "{:.1} / {:.1} / {:.1} ({})",
                percentile(v, 0.5),
                percentile(v, 0.95),
                percentile(v, 0.99),
                v.len()
            )
        };
        println!(
            "{kind:<8} {:>26} {:>26} {:>26} {:>9.1} {:>9.1}{}",
            fig(&b),
            fig(&p),
            fig(&d),
            dp99 - pp99,
            dp99 - bp99,
            if dp99 - pp99 <= 50.0 {
                "  (target <= 50 ms: met)"
            } else {
                "  (target <= 50 ms: NOT met)"
            }
        );
        // The trend the pauses take out: each window's median, in order.
        if on.len() > 1 {
            let mut trend = Vec::new();
            let mut edges: Vec<Duration> = on.iter().flat_map(|(a, b)| [*a, *b]).collect();
            edges.push(load_to);
            for (i, w) in edges.windows(2).enumerate() {
                let v = of(&|due| due >= w[0] && due < w[1]);
                trend.push(format!(
                    "{}{:.0}",
                    if i % 2 == 0 { "on " } else { "off " },
                    percentile(&v, 0.5)
                ));
            }
            println!("{:<8} p50 ms by window: {}", "", trend.join(", "));
        }
    }
    if failed > 0 {
        println!("{failed} requests failed (left out of the figures above)");
    }

    let after = sizes(&pool).await?;
    sqlx::query(&format!("VACUUM {}", TABLES.join(", ")))
        .execute(&pool)
        .await?;
    let vacuumed = sizes(&pool).await?;
    println!(
        "{:<20} {:>12} {:>12} {:>14}",
        "table", "before MB", "after MB", "after VACUUM"
    );
    let mb = |b: i64| b as f64 / 1_048_576.0;
    for t in TABLES {
        println!(
            "{t:<20} {:>12.1} {:>12.1} {:>14.1}",
            mb(before[t]),
            mb(after[t]),
            mb(vacuumed[t])
        );
    }
    let free: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(n_dead_tup), 0)::int8 FROM pg_stat_user_tables WHERE relname = ANY($1)",
    )
    .bind(TABLES.map(String::from).to_vec())
    .fetch_one(&pool)
    .await?;
    println!("dead tuples left after VACUUM: {free}");
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at the end: {}",
        load_avg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );

    served.stop().await;
    pool.close().await;
    if !args.keep {
        common::drop_database(&mut admin, &args.database).await?;
    }
    anyhow::ensure!(
        purged == expiring || purged.values().sum::<u64>() >= expiring_all,
        "the purge did less than the dry run counted: {purged:?} against {expiring:?}"
    );
    Ok(())
}

fn rows_of(report: &[retention::EnvPurge], env_id: uuid::Uuid) -> BTreeMap<&'static str, u64> {
    report
        .iter()
        .find(|e| e.env_id == env_id)
        .map(|e| e.rows.clone())
        .unwrap_or_default()
}

/// Rows deleted, not bodies cleared.
fn deleted_of(rows: &BTreeMap<&'static str, u64>) -> u64 {
    rows.iter()
        .filter(|(k, _)| !k.ends_with("Bodies"))
        .map(|(_, n)| n)
        .sum()
}

fn per_kind(rows: &BTreeMap<&'static str, u64>) -> String {
    rows.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn sizes(pool: &PgPool) -> anyhow::Result<BTreeMap<&'static str, i64>> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
            .bind(t)
            .fetch_one(pool)
            .await?;
        out.insert(t, size);
    }
    Ok(out)
}

async fn sync(http: &reqwest::Client, base: &str, key: &str, account: &str) -> anyhow::Result<Value> {
    Ok(http
        .post(format!("{base}/si/mono/sync"))
        .bearer_auth(key)
        .json(&json!({"accountId": account, "pageSize": 100}))
        .send()
        .await?
        .json()
        .await?)
}

/// Signed `transaction.updated` deliveries for the linked accounts, one every 1/`rate` s,
/// each sent at its due time whatever the ones before it are doing (open loop).
async fn webhooks(
    http: reqwest::Client,
    base: String,
    accounts: Vec<String>,
    rate: f64,
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let endpoint = format!("{base}/si/mono/webhook");
    let mut inflight = tokio::task::JoinSet::new();
    for i in 0u64.. {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let body = serde_json::to_vec(&json!({
            "event": "transaction.updated",
            "event_id": format!("evt_{run}_{i}"),
            "data": {
                "account": accounts[i as usize % accounts.len()],
                "transaction": {
                    "id": format!("tx_{run}_{i}"), "type": "credit", "amount": 250_000 + i as i64,
                    "currency": "NGN", "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "narration": format!("NIP/GTB/ACME LTD/Payment for invoice LD-{i}"),
                }
            }
        }))?;
        let (http, endpoint, samples) = (http.clone(), endpoint.clone(), samples.clone());
        inflight.spawn(async move {
            let result = common::post_signed(&http, &endpoint, SECRET, body).await;
            let ok = match result {
                Ok(resp) => {
                    let ok = resp.status().is_success();
                    let _ = resp.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            samples.lock().unwrap().push(Sample {
                kind: "webhook",
                due: due - started,
                latency: due.elapsed(),
                ok,
            });
        });
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
    Ok(())
}

/// One lane's syncs, of its accounts in turn: every `every`, `new` transactions added to the
/// next account at the sandbox (not timed), then `POST /si/mono/sync` of it, timed from when
/// it was due.
#[allow(clippy::too_many_arguments)]
async fn sync_lane(
    http: reqwest::Client,
    base: String,
    sandbox: String,
    key: String,
    accounts: Vec<String>,
    new: usize,
    every: Duration,
    first: Instant,
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut due = first;
    for account in accounts.iter().cycle() {
        if stop.is_cancelled() {
            break;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        // The sandbox's time to add them is not the service's: left out of the latency.
        let adding = Instant::now();
        let added = http
            .post(format!("{sandbox}_sandbox/accounts/{account}/transactions"))
            .json(&json!({"count": new}))
            .send()
            .await?;
        anyhow::ensure!(
            added.status().is_success(),
            "adding transactions: {}",
            added.status()
        );
        let added_in = adding.elapsed();
        let synced = sync(&http, &base, &key, account).await;
        let ok = matches!(&synced, Ok(v) if v["data"]["fetched"].as_u64().is_some_and(|n| n > 0));
        samples.lock().unwrap().push(Sample {
            kind: "sync",
            due: due - started,
            latency: due.elapsed().saturating_sub(added_in),
            ok,
        });
        due += every;
    }
    Ok(())
}

/// Each kind's batch as `db::retention::delete_batch` issues it (read from its source, the
/// query of the kind's arm: $1 env, $2 cutoff, $3 where the previous batch ended, $4 rows),
/// and as it was before the retention indexes (no order, no lower bound) with the indexes of
/// then (the DDL, run in the rolled-back transaction).
const BATCHES: [(&str, &str, &str, &str); 5] = [
    (
        "eligibility_events",
        "db::retention::delete_batch#2",
        "DELETE FROM eligibility_events WHERE id IN (
             SELECT id FROM eligibility_events WHERE env_id = $1 AND created_at < $2 LIMIT $3)",
        "DROP INDEX eligibility_events_env_created_idx",
    ),
    (
        "dlq_records",
        "db::retention::delete_batch#1",
        "DELETE FROM dlq_records WHERE id IN (
             SELECT id FROM dlq_records WHERE env_id = $1 AND created_at < $2 LIMIT $3)",
        "DROP INDEX dlq_records_env_created_idx",
    ),
    (
        "monitoring_events",
        "db::retention::delete_batch#3",
        "DELETE FROM monitoring_events WHERE id IN (
             SELECT id FROM monitoring_events WHERE env_id = $1 AND created_at < $2 LIMIT $3)",
        "DROP INDEX monitoring_events_env_created_idx",
    ),
    (
        "invoices",
        "db::retention::delete_batch#0",
        "DELETE FROM invoices i
         WHERE i.id IN (
             SELECT id FROM invoices
             WHERE env_id = $1 AND source = 'mono' AND status <> 'SIGNED' AND created_at < $2 LIMIT $3)
           AND i.env_id = $1 AND i.source = 'mono' AND i.status <> 'SIGNED' AND i.created_at < $2",
        "DROP INDEX invoices_retention_idx",
    ),
    (
        "mono_transactions",
        "db::retention::delete_batch#4",
        "UPDATE mono_transactions SET transaction = NULL, credit = NULL, amount = NULL, currency = NULL,
                narration = NULL, description = NULL, reference = NULL, counterparty_name = NULL,
                counterparty_account = NULL, counterparty_bank = NULL
         WHERE (env_id, account_id, transaction_id) IN (
             SELECT env_id, account_id, transaction_id FROM mono_transactions
             WHERE env_id = $1 AND created_at < $2 AND transaction IS NOT NULL LIMIT $3)",
        "DROP INDEX mono_transactions_env_created_idx;
         CREATE INDEX mono_transactions_env_created_idx ON mono_transactions (env_id, created_at)",
    ),
];

/// For each kind, in a transaction rolled back: `after` batches as retention runs them, then
/// EXPLAIN (ANALYZE, BUFFERS) of the next batch, and of the statement retention issued
/// before its indexes at the same point; written to `dir/retention_<table>.txt`.
async fn explain(
    pool: &PgPool,
    dir: &std::path::Path,
    env_id: uuid::Uuid,
    days: u32,
    after: u32,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let batch = retention::BATCH;
    for (table, source, before_sql, before_ddl) in BATCHES {
        let now_sql = statement_of(source);
        let mut tx = pool.begin().await?;
        let mut from: Option<chrono::DateTime<chrono::Utc>> = None;
        for _ in 0..after {
            let (_, last): (i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(now_sql)
                .bind(env_id)
                .bind(cutoff)
                .bind(from)
                .bind(batch)
                .fetch_one(&mut *tx)
                .await?;
            from = last.or(from);
        }
        let plan = |rows: Vec<(String,)>| rows.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n");
        let now_plan = plan(
            sqlx::query_as(&format!("EXPLAIN (ANALYZE, BUFFERS) {now_sql}"))
                .bind(env_id)
                .bind(cutoff)
                .bind(from)
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?,
        );
        sqlx::raw_sql(before_ddl).execute(&mut *tx).await?;
        let before_plan = plan(
            sqlx::query_as(&format!("EXPLAIN (ANALYZE, BUFFERS) {before_sql}"))
                .bind(env_id)
                .bind(cutoff)
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?,
        );
        tx.rollback().await?;
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE env_id = $1"))
            .bind(env_id)
            .fetch_one(pool)
            .await?;
        std::fs::write(
            dir.join(format!("retention_{table}.txt")),
            format!(
                "-- A retention batch of {batch} rows of {table} ({rows} rows in the environment), taken after \
                 {after} batches had run in the same transaction (rolled back), {days}-day retention\n\
                 -- db::retention::delete_batch, from where the previous batch ended:\n{now_plan}\n\n\
                 -- The statement before the retention indexes, with the indexes of then, at the same point:\n{before_plan}\n"
            ),
        )?;
        println!("explained a batch of {table} (docs: {})", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::statements::highest_parameter;

    /// Each kind's batch is read from its arm of `delete_batch`: the right table, whole.
    #[test]
    fn each_batch_is_read_from_its_arm_of_delete_batch() {
        for (table, source, _, _) in BATCHES {
            let sql = statement_of(source);
            assert!(sql.trim_start().starts_with("WITH "), "{source}: {sql}");
            let verb = if table == "mono_transactions" {
                "UPDATE"
            } else {
                "DELETE FROM"
            };
            assert!(sql.contains(&format!("{verb} {table} ")), "{source}: {sql}");
            assert!(
                sql.trim_end().ends_with("AS last FROM gone")
                    || sql.trim_end().ends_with("AS last FROM cleared"),
                "{source}: {sql}"
            );
            assert_eq!(highest_parameter(sql), 4, "{source}");
        }
    }
}
