//! Load generator for webhook intake: posts N unique signed `transaction.updated` deliveries
//! over C concurrent connections to a running service, prints deliveries per second and the
//! latency percentiles, waits for the job worker to drain what was queued, and runs `pgbench`
//! (single-row INSERTs into a scratch table, `-c C`) against the same database, so the intake
//! rate can be read against what the database itself commits.
//!
//! The machine this runs on is shared and noisy, so intake and pgbench take turns: `--rounds R`
//! (default 3) rounds of N/R deliveries followed by `--pgbench-secs`/R seconds of pgbench, each
//! round printed with its own ratio, then the totals and the median of the rounds' ratios. The
//! bodies are built before the clock starts (signing stays in the timed loop, as a sender
//! signs), and a warm-up of `--warmup` deliveries (default 500, not counted) opens the
//! connections first, as pgbench leaves its connection time out.
//!
//! ```text
//! cargo run --release --example webhook_load -- --url http://127.0.0.1:8080 -n 20000 -c 16
//! cargo run --release --example webhook_load -- -n 10000 -c 16 --rate 500
//! ```
//!
//! `DATABASE_URL` (or `--database-url`) names the service's database: the generator creates an
//! organization with `--accounts` linked accounts there (default 1,000; delivery i is for
//! account i mod K), so every delivery is attributed, stored with its job and processed
//! (`--unattributed` posts for unknown accounts instead: stored, no job). `--no-drain` does
//! not wait for processing: for a service started with
//! `JOB_CONCURRENCY=0`, whose intake then runs without a worker beside it on the machine.
//! `MONO_WEBHOOK_SECRET` (or `--secret`) signs the deliveries.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

struct Args {
    url: String,
    database_url: String,
    secret: String,
    n: usize,
    c: usize,
    rate: Option<f64>,
    unattributed: bool,
    no_drain: bool,
    pgbench_secs: u64,
    rounds: usize,
    warmup: usize,
    accounts: usize,
}

fn usage() -> &'static str {
    "webhook_load [--url URL] [--database-url URL] [--secret S] [-n N] [-c C] [--rate PER_SEC] \
     [--unattributed] [--no-drain] [--pgbench-secs S (0: skip)] [--rounds R] [--warmup N] [--accounts K]"
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        database_url: std::env::var("DATABASE_URL").unwrap_or_default(),
        secret: std::env::var("MONO_WEBHOOK_SECRET").unwrap_or_default(),
        n: 20_000,
        c: 16,
        rate: None,
        unattributed: false,
        no_drain: false,
        pgbench_secs: 12,
        rounds: 3,
        warmup: 500,
        accounts: 1_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value; {}", usage()))
        };
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--database-url" => args.database_url = value()?,
            "--secret" => args.secret = value()?,
            "-n" => args.n = value()?.parse()?,
            "-c" => args.c = value()?.parse()?,
            "--rate" => args.rate = Some(value()?.parse()?),
            "--unattributed" => args.unattributed = true,
            "--no-drain" => args.no_drain = true,
            "--pgbench-secs" => args.pgbench_secs = value()?.parse()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--accounts" => args.accounts = value()?.parse()?,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; {}", usage()),
        }
    }
    if args.database_url.is_empty() {
        bail!("DATABASE_URL (or --database-url) must name the service's database");
    }
    if args.secret.is_empty() {
        bail!("MONO_WEBHOOK_SECRET (or --secret) must be the service's webhook secret");
    }
    if args.c == 0 || args.n == 0 || args.rounds == 0 || args.accounts == 0 {
        bail!("-n, -c, --rounds and --accounts must be above 0");
    }
    if args.rate.is_some() {
        // A steady rate is a latency measurement: one run, pgbench after it.
        args.rounds = 1;
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// One delivery's body, built before the clock starts.
fn body(run: &str, account: &str, i: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "transaction.updated",
        "event_id": format!("evt_{run}_{i}"),
        "data": {
            "account": account,
            "transaction": {
                "id": format!("tx_{run}_{i}"), "type": "credit", "amount": 250_000 + i as i64,
                "currency": "NGN", "date": "2026-01-05T10:00:00.000Z",
                "narration": format!("NIP/GTB/ACME LTD/Payment for invoice LD-{i}"),
            }
        }
    }))
    .unwrap_or_default()
}

/// What one timed stretch of intake came to.
struct Intake {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: f64,
}

impl Intake {
    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed
    }
}

/// Posts `bodies` over `c` connections (at `rate` per second when given), signing each as it
/// goes out.
async fn post_all(
    http: &reqwest::Client,
    endpoint: &str,
    secret: &str,
    bodies: Vec<Vec<u8>>,
    c: usize,
    rate: Option<f64>,
) -> anyhow::Result<Intake> {
    let n = bodies.len();
    let bodies = Arc::new(std::sync::Mutex::new(bodies.into_iter().enumerate()));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(c);
    for _ in 0..c {
        let (http, endpoint, secret, bodies) = (
            http.clone(),
            endpoint.to_owned(),
            secret.to_owned(),
            bodies.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n / c + 1);
            let mut errors = 0usize;
            loop {
                let next = bodies.lock().map(|mut it| it.next()).unwrap_or(None);
                let Some((i, body)) = next else {
                    break;
                };
                // At a steady rate, latency counts from when the request was due, so a slow
                // answer that delays the next request is not hidden (coordinated omission).
                let due = match rate {
                    Some(r) => {
                        let due = started + Duration::from_secs_f64(i as f64 / r);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                let result = common::post_signed(&http, &endpoint, &secret, body).await;
                match result {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        latencies.push(due.elapsed());
                    }
                    Ok(resp) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("delivery {i}: {}", resp.status());
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("delivery {i}: {e}");
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut out = Intake {
        latencies: Vec::with_capacity(n),
        errors: 0,
        elapsed: 0.0,
    };
    for w in workers {
        let (l, e) = w.await?;
        out.latencies.extend(l);
        out.errors += e;
    }
    out.elapsed = started.elapsed().as_secs_f64();
    out.latencies.sort();
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.c)
        .tcp_nodelay(true)
        .build()?;
    let base = args.url.trim_end_matches('/');
    // Figures from a service that is not there (or not ready) would be all errors: stop first.
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .with_context(|| format!("no service answers at {base} (is it running? --url)"))?;
    if !ready.status().is_success() {
        bail!("{base}/readyz answered {}", ready.status());
    }
    let endpoint = format!("{base}/si/mono/webhook");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    // The deliveries' accounts (delivery i is for account i mod --accounts), all of one
    // organization's sandbox environment; with --unattributed, accounts nobody has linked.
    let prefix = if args.unattributed {
        format!("acc_load_unknown_{run}_")
    } else {
        format!("acc_load_{run}_")
    };
    let accounts: Vec<String> = (0..args.accounts).map(|k| format!("{prefix}{k}")).collect();
    if !args.unattributed {
        let tenant = taxpoynt_mono::services::tenants::create_tenant(&pool, "Webhook load").await?;
        let env = tenant
            .environments
            .iter()
            .find(|e| e.name == "sandbox")
            .context("sandbox env")?
            .id;
        sqlx::query(
            "INSERT INTO mono_accounts (id, org_id, env_id, currency, data_status)
             SELECT id, $2, $3, 'NGN', 'AVAILABLE' FROM UNNEST($1::text[]) AS t(id)",
        )
        .bind(&accounts)
        .bind(tenant.org_id)
        .bind(env)
        .execute(&pool)
        .await?;
        sqlx::query("ANALYZE mono_accounts").execute(&pool).await?;
    }

    let total = args.warmup + args.n;
    let mut bodies: Vec<Vec<u8>> = (0..total)
        .map(|i| body(&run, &accounts[i % accounts.len()], i))
        .collect();

    if args.warmup > 0 {
        let rest = bodies.split_off(args.warmup);
        let warm = post_all(&http, &endpoint, &args.secret, bodies, args.c, None).await?;
        println!(
            "warm-up: {} deliveries ({} errors), not counted",
            warm.latencies.len(),
            warm.errors
        );
        bodies = rest;
    }

    let started = Instant::now();
    let rounds = args.rounds.min(args.n);
    let per_round = args.n.div_ceil(rounds);
    let pgbench_secs = if args.pgbench_secs == 0 {
        0
    } else {
        (args.pgbench_secs / rounds as u64).max(1)
    };
    let mut latencies = Vec::with_capacity(args.n);
    let (mut errors, mut intake_secs, mut ratios, mut tps_all) = (0, 0.0, Vec::new(), Vec::new());
    let mut rest = bodies;
    for round in 1..=rounds {
        let take = per_round.min(rest.len());
        let later = rest.split_off(take);
        let intake = post_all(&http, &endpoint, &args.secret, rest, args.c, args.rate).await?;
        rest = later;
        let tps = if pgbench_secs > 0 && args.rate.is_none() {
            Some(pgbench(&pool, &args, pgbench_secs).await?)
        } else {
            None
        };
        if rounds > 1 {
            println!(
                "round {round}: {:.0} deliveries/s, p99 {:.2} ms{}",
                intake.per_sec(),
                percentile(&intake.latencies, 0.99),
                tps.map(|t| format!("; pgbench {t:.0} tps; ratio {:.2}", intake.per_sec() / t))
                    .unwrap_or_default()
            );
        }
        if let Some(t) = tps {
            ratios.push(intake.per_sec() / t);
            tps_all.push(t);
        }
        errors += intake.errors;
        intake_secs += intake.elapsed;
        latencies.extend(intake.latencies);
    }
    latencies.sort();
    let ok = latencies.len();
    let per_sec = ok as f64 / intake_secs;
    println!(
        "intake: {ok} deliveries ({errors} errors) over {} connections{} in {intake_secs:.2} s: {per_sec:.0} deliveries/s; \
         latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.c,
        args.rate.map(|r| format!(" at {r:.0}/s")).unwrap_or_default(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );

    if !args.unattributed && !args.no_drain {
        // The worker drains what intake queued.
        let drain_started = Instant::now();
        let mut pending: i64 = 0;
        while drain_started.elapsed() < Duration::from_secs(300) {
            pending = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE account_id LIKE $1 || '%' AND status = 'queued'",
            )
            .bind(&prefix)
            .fetch_one(&pool)
            .await?;
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let processed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE account_id LIKE $1 || '%' AND status = 'processed'",
        )
        .bind(&prefix)
        .fetch_one(&pool)
        .await?;
        let total = started.elapsed().as_secs_f64();
        println!(
            "processing: {processed} processed, {pending} still queued; all done {total:.2} s after the first delivery \
             ({:.0} processed/s end to end)",
            processed as f64 / total
        );
    }

    if args.rate.is_some() && pgbench_secs > 0 {
        let tps = pgbench(&pool, &args, args.pgbench_secs).await?;
        println!(
            "pgbench: single-row INSERT, -c {} -T {}: {tps:.0} tps",
            args.c, args.pgbench_secs
        );
    } else if !tps_all.is_empty() {
        let mean_tps = tps_all.iter().sum::<f64>() / tps_all.len() as f64;
        println!(
            "pgbench: single-row INSERT, -c {} -T {pgbench_secs} x {}: {mean_tps:.0} tps; \
             intake / pgbench = {:.2} (median of the rounds {:.2}; rounds {})",
            args.c,
            tps_all.len(),
            per_sec / mean_tps,
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if errors > 0 {
        // The figures above leave the failed deliveries out; a run with failures measures nothing.
        bail!(
            "{errors} of {} deliveries failed (the first ones are printed above)",
            args.n
        );
    }
    Ok(())
}

async fn pgbench(pool: &sqlx::PgPool, args: &Args, secs: u64) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS webhook_load_scratch (
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(pool)
    .await?;
    let script = std::env::temp_dir().join(format!("webhook_load_{}.sql", std::process::id()));
    // About the size of a delivery body.
    std::fs::write(
        &script,
        "INSERT INTO webhook_load_scratch (body) VALUES (repeat('x', 400));\n",
    )?;
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-c", &args.c.to_string(), "-j", &args.c.min(4).to_string()])
        .args(["-T", &secs.to_string(), "-f"])
        .arg(&script)
        .arg(&args.database_url)
        .output()
        .await
        .context("running pgbench (install PostgreSQL's client tools)")?;
    let _ = std::fs::remove_file(&script);
    sqlx::query("DROP TABLE IF EXISTS webhook_load_scratch")
        .execute(pool)
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("pgbench printed no tps")
}
