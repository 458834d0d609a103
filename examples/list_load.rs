//! The dashboard's lists at scale: p50/p95/p99 and requests a second of every list endpoint
//! with its common filters, at 16 concurrent connections over real HTTP to the service
//! started in-process on a seeded database (`common::seed`), and a single client's first walk
//! of 40 invoice pages right after a bulk write.
//!
//! - `--fresh N`: a fresh database seeded with N transactions (the bulk write the first walk
//!   follows), dropped at the end unless `--keep`.
//! - else the database `--database` (default `taxpoynt_seed`, as `scripts/seed.sh` leaves it),
//!   with `--bulk N` transactions added to it first (default 200,000) for the first walk.
//!
//! The first walk's anchor is the same walk once more right after it (warm); `--save FILE`
//! keeps this run's p99s and `--anchor FILE` prints each p99 beside a saved run's (the
//! 100,000-row run) with the ratio. `--explain DIR` writes `EXPLAIN (ANALYZE, BUFFERS)` of
//! each list's query, as the service issues it, one file per list.
//!
//! `bash scripts/bench-lists.sh` runs both sizes (a release build; DATABASE_URL as
//! scripts/pg.sh finds it).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use common::seed::{self, SeedOptions};
use serde_json::Value;
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::services::tenants;
use taxpoynt_mono::tenancy::Role;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Seed a fresh database with this many transactions.
    #[arg(long)]
    fresh: Option<u64>,
    /// Keep the fresh database.
    #[arg(long)]
    keep: bool,
    /// The seeded database to measure (without --fresh).
    #[arg(long, default_value = "taxpoynt_seed")]
    database: String,
    /// Transactions added to the seeded database before the first walk (without --fresh).
    #[arg(long, default_value_t = 200_000)]
    bulk: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of load per list.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Save this run's p99s (JSON).
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// A saved run to print each p99 beside, with the ratio.
    #[arg(long)]
    anchor: Option<std::path::PathBuf>,
    /// Write EXPLAIN (ANALYZE, BUFFERS) of each list's query here.
    #[arg(long)]
    explain: Option<std::path::PathBuf>,
    /// Measure only these lists (names as printed, comma-separated), e.g. to profile one.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One list under load: the requests it cycles through (path and query).
struct Case {
    name: &'static str,
    what: &'static str,
    urls: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let master = std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("DATABASE_URL must be set"))?;
    let (db, url, admin) = match args.fresh {
        Some(_) => {
            let db = format!("taxpoynt_lists_{}", std::process::id());
            let (url, admin) = common::fresh_database(&master, &db).await?;
            (db, url, Some(admin))
        }
        None => {
            let mut url = url::Url::parse(&master)?;
            url.set_path(&args.database);
            (args.database.clone(), url, None)
        }
    };
    let settings = Settings::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.to_string()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "MONO_WEBHOOK_SECRET" => Some("bench-webhook-secret".into()),
        // The figures measure the lists, not the per-key request budget.
        "API_RATE_LIMIT" => Some("0".into()),
        _ => None,
    })?;
    let served = common::Served::start(settings).await?;
    let state = served.state.clone();
    let pool = served.pool();
    let base = served.base.clone();

    let (org_id, env_id) = match args.fresh {
        Some(_) => {
            let t = tenants::create_tenant(&pool, "Lists Org").await?;
            (t.org_id, common::sandbox_env(&t)?)
        }
        None => seed::seeded_environment(&pool)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{db} holds no seeded environment: run scripts/seed.sh"))?,
    };
    let tenant = seed::tenant_of(&pool, org_id, env_id).await?;
    let key = tenants::create_key(&pool, org_id, Role::Tenant).await?.api_key;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;

    // The bulk write, then at once a single client's walk.
    let bulk = args.fresh.unwrap_or(args.bulk);
    if bulk > 0 {
        let opts = SeedOptions {
            rows: bulk,
            progress: None,
            ..SeedOptions::default()
        };
        let report = seed::seed(&state, &tenant, &opts).await?;
        println!(
            "bulk write: {} transactions ({} rows) in {:.1} s",
            report.ledger,
            report.rows(),
            report.elapsed.as_secs_f64()
        );
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT reltuples::int8 FROM pg_class WHERE relname = 'mono_transactions'")
            .fetch_one(&pool)
            .await?;
    println!(
        "{db}: about {stored} stored transactions; {} connections, {} s a list",
        args.concurrency, args.seconds
    );
    let first = walk(&http, &base, &key, env_id, 40).await?;
    let again = walk(&http, &base, &key, env_id, 40).await?;
    println!(
        "first walk {}: {:.1} ms/page (slowest page {:.1} ms); the same walk again {:.1} ms/page; {:.2}x",
        if bulk > 0 {
            "after the bulk write"
        } else {
            "(no bulk write before it)"
        },
        mean_ms(&first),
        max_ms(&first),
        mean_ms(&again),
        mean_ms(&first) / mean_ms(&again)
    );

    let mut cases = cases(&pool, &http, &base, &key, env_id).await?;
    if !args.only.is_empty() {
        cases.retain(|c| args.only.iter().any(|o| o == c.name));
    }
    let anchor: BTreeMap<String, f64> = match &args.anchor {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => BTreeMap::new(),
    };
    let mut saved = BTreeMap::new();
    saved.insert("first_walk_ms_per_page".to_string(), mean_ms(&first));
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>8} {:>9}   anchor p99 (ratio)",
        "list", "p50 ms", "p95 ms", "p99 ms", "req/s", "KB/answer"
    );
    for case in &cases {
        let (times, failed, elapsed, size) =
            load(&http, &key, &base, case, args.concurrency, args.seconds).await;
        let p = |q: f64| percentile(&times, q);
        let p99 = p(0.99);
        let against = anchor
            .get(case.name)
            .map(|a| format!("{a:.2} ({:.2}x)", p99 / a))
            .unwrap_or_default();
        println!(
            "{:<26} {:>8.2} {:>8.2} {:>8.2} {:>8.0} {:>9.1}   {}{}",
            case.name,
            p(0.50),
            p(0.95),
            p99,
            times.len() as f64 / elapsed.as_secs_f64(),
            size / 1024.0,
            against,
            if failed > 0 {
                format!("  {failed} FAILED")
            } else {
                String::new()
            }
        );
        saved.insert(case.name.to_string(), p99);
    }
    for case in &cases {
        println!("  {:<24} {}", case.name, case.what);
    }
    if let Some(p) = &args.save {
        std::fs::write(p, serde_json::to_string_pretty(&saved)?)?;
    }
    if let Some(dir) = &args.explain {
        explain(&pool, &tenant, dir, &cases).await?;
    }

    served.stop().await;
    pool.close().await;
    if let (Some(mut admin), false) = (admin, args.keep) {
        common::drop_database(&mut admin, &db).await?;
    }
    Ok(())
}

/// A single client walking `pages` pages of invoices, newest first: each page's time.
async fn walk(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    env_id: Uuid,
    pages: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(pages);
    let mut before: Option<String> = None;
    for _ in 0..pages {
        let mut url = format!("{base}/si/invoices?envId={env_id}&limit=50");
        if let Some(b) = &before {
            url.push_str(&format!("&before={b}"));
        }
        let started = Instant::now();
        let page: Value = http.get(&url).bearer_auth(key).send().await?.json().await?;
        times.push(started.elapsed());
        match page["meta"]["next"].as_str() {
            Some(n) => before = Some(n.to_string()),
            None => break,
        }
    }
    Ok(times)
}

/// The `before` cursor of page `page` (1-based) of a list.
async fn cursor_of_page(
    http: &reqwest::Client,
    key: &str,
    first: &str,
    page: usize,
) -> anyhow::Result<String> {
    let mut before = String::new();
    for _ in 1..page {
        let url = if before.is_empty() {
            first.to_string()
        } else {
            format!("{first}&before={before}")
        };
        let answer: Value = http.get(&url).bearer_auth(key).send().await?.json().await?;
        before = answer["meta"]["next"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("{first} has fewer than {page} pages"))?
            .to_string();
    }
    Ok(format!("{first}&before={before}"))
}

/// Every list with its common filters, each cycling through varied values.
async fn cases(
    pool: &sqlx::PgPool,
    http: &reqwest::Client,
    base: &str,
    key: &str,
    env_id: Uuid,
) -> anyhow::Result<Vec<Case>> {
    let e = format!("envId={env_id}");
    let accounts: Vec<String> =
        sqlx::query_scalar("SELECT id FROM mono_accounts WHERE env_id = $1 ORDER BY linked_at, id LIMIT 64")
            .bind(env_id)
            .fetch_all(pool)
            .await?;
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM (SELECT reason FROM dlq_records WHERE env_id = $1 AND status = 'open'
                             ORDER BY seq DESC LIMIT 2000) r
         GROUP BY reason ORDER BY count(*) DESC LIMIT 3",
    )
    .bind(env_id)
    .fetch_all(pool)
    .await?;
    let jobs: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE env_id = $1 ORDER BY random() LIMIT 256")
            .bind(env_id)
            .fetch_all(pool)
            .await?;
    anyhow::ensure!(
        !accounts.is_empty() && !reasons.is_empty() && !jobs.is_empty(),
        "the environment is not seeded"
    );
    let today = Utc::now().date_naive();
    // 30-day windows spread over the history.
    let windows: Vec<(String, String)> = (0..32)
        .map(|k| {
            let to = today - chrono::Duration::days(k * 33);
            ((to - chrono::Duration::days(30)).to_string(), to.to_string())
        })
        .collect();
    let per_account = |f: &dyn Fn(&str, usize) -> String| -> Vec<String> {
        accounts.iter().enumerate().map(|(i, a)| f(a, i)).collect()
    };
    let mut cases = vec![
        Case {
            name: "invoices_status",
            what: "GET /si/invoices?status=DRAFT|CONFIRMED|DISCARDED",
            urls: ["DRAFT", "CONFIRMED", "DISCARDED"]
                .iter()
                .map(|s| format!("{base}/si/invoices?{e}&status={s}"))
                .collect(),
        },
        Case {
            name: "invoices_account_dates",
            what: "GET /si/invoices?accountId&from&to (a 30-day window)",
            urls: per_account(&|a, i| {
                let (from, to) = &windows[i % windows.len()];
                format!("{base}/si/invoices?{e}&accountId={a}&from={from}&to={to}")
            }),
        },
        Case {
            name: "invoices_account",
            what: "GET /si/invoices?accountId",
            urls: per_account(&|a, _| format!("{base}/si/invoices?{e}&accountId={a}")),
        },
        Case {
            name: "dlq_reason",
            what: "GET /si/mono/dlq?reason (the three most common)",
            urls: reasons
                .iter()
                .map(|r| format!("{base}/si/mono/dlq?{e}&reason={r}"))
                .collect(),
        },
        Case {
            name: "dlq_account",
            what: "GET /si/mono/dlq?accountId",
            urls: per_account(&|a, _| format!("{base}/si/mono/dlq?{e}&accountId={a}")),
        },
        Case {
            name: "events_account",
            what: "GET /si/mono/events?accountId",
            urls: per_account(&|a, _| format!("{base}/si/mono/events?{e}&accountId={a}")),
        },
        Case {
            name: "events_outcome",
            what: "GET /si/mono/events?outcome=draft|dlq|skipped",
            urls: ["draft", "dlq", "skipped"]
                .iter()
                .map(|o| format!("{base}/si/mono/events?{e}&outcome={o}"))
                .collect(),
        },
        Case {
            name: "buyers_search",
            what: "GET /si/buyers?q= (a common word, a name, a TIN prefix, none)",
            urls: ["stores", "golden", "ltd", "adebayo", "1234", ""]
                .iter()
                .map(|q| format!("{base}/si/buyers?{e}&q={q}"))
                .collect(),
        },
        Case {
            name: "accounts_linked",
            what: "GET /si/mono/accounts?linkedOnly=true (every linked account, one page)",
            urls: vec![format!("{base}/si/mono/accounts?{e}&linkedOnly=true")],
        },
        Case {
            name: "jobs",
            what: "GET /si/mono/jobs/{id}",
            urls: jobs
                .iter()
                .map(|j| format!("{base}/si/mono/jobs/{j}?{e}"))
                .collect(),
        },
    ];
    let mut deep = Vec::new();
    for first in [
        format!("{base}/si/invoices?{e}&limit=50"),
        format!("{base}/si/mono/dlq?{e}&limit=50"),
        format!("{base}/si/mono/events?{e}&limit=50"),
    ] {
        deep.push(cursor_of_page(http, key, &first, 40).await?);
    }
    cases.push(Case {
        name: "deep_page_40",
        what: "the 40th page of a walk (invoices, DLQ, events; 50 a page)",
        urls: deep,
    });
    Ok(cases)
}

/// `concurrency` clients cycling through the case's requests for `seconds`: each answer's
/// time in ms, the failures, the time taken, the answers' mean size in bytes.
async fn load(
    http: &reqwest::Client,
    key: &str,
    _base: &str,
    case: &Case,
    concurrency: usize,
    seconds: u64,
) -> (Vec<f64>, u64, Duration, f64) {
    let urls = Arc::new(case.urls.clone());
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (http, key, urls) = (http.clone(), key.to_string(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failed = 0u64;
            let mut bytes = 0usize;
            let mut i = c;
            // Bounded in count and time.
            while Instant::now() < until && times.len() < 200_000 {
                let url = &urls[i % urls.len()];
                i += concurrency;
                let t = Instant::now();
                match http.get(url).bearer_auth(&key).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(body) => {
                            times.push(t.elapsed().as_secs_f64() * 1000.0);
                            bytes += body.len();
                        }
                        Err(_) => failed += 1,
                    },
                    _ => failed += 1,
                }
            }
            (times, failed, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    let mut bytes = 0;
    for t in tasks {
        if let Ok((times, f, b)) = t.await {
            all.extend(times);
            failed += f;
            bytes += b;
        }
    }
    let elapsed = started.elapsed();
    all.sort_by(|a, b| a.total_cmp(b));
    let size = bytes as f64 / all.len().max(1) as f64;
    (all, failed, elapsed, size)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn mean_ms(times: &[Duration]) -> f64 {
    times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / times.len().max(1) as f64
}

fn max_ms(times: &[Duration]) -> f64 {
    times.iter().map(Duration::as_secs_f64).fold(0.0, f64::max) * 1000.0
}

/// EXPLAIN (ANALYZE, BUFFERS) of each list's query with the values of its first request.
async fn explain(
    pool: &sqlx::PgPool,
    tenant: &taxpoynt_mono::tenancy::Tenant,
    dir: &std::path::Path,
    cases: &[Case],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut conn = pool.acquire().await?;
    for plan in explain::plans(cases) {
        let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", plan.sql);
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        q = plan.bind(q, tenant);
        let lines: Vec<String> = q.fetch_all(&mut *conn).await?;
        let text = format!(
            "-- {}\n-- {}\n-- parameters: {}\n{}\n\n{}\n",
            plan.name,
            plan.source,
            plan.values.join(", "),
            plan.sql.trim(),
            lines.join("\n")
        );
        std::fs::write(dir.join(format!("{}.txt", plan.name)), text)?;
    }
    Ok(())
}

#[path = "list_load/explain.rs"]
mod explain;
