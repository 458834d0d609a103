//! Rule-preview benchmark: a fresh database, a sandbox account whose transactions (up to
//! 5,000) are synced into the ledger through the service, then copied inside the database
//! (new ids, everything else as the sync wrote it) until the ledger holds N (default
//! 100,000); then `POST /si/mono/allow-deny/preview` (a deny rule, then a floor change) over
//! loopback, five times each. The anchors, measured in the same run, each read the same
//! ledger rows and the same columns the preview reads, without deciding: a bare streamed
//! `SELECT` (the `SELECT` inside the preview's COPY statement, `db::ledger::engine_rows`, its
//! rows decoded as sqlx decodes any query's), and the preview's bare `COPY ... TO STDOUT
//! (FORMAT binary)` (its bytes received, not parsed); each on one connection, and split as
//! the preview splits it (`PREVIEW_SCAN_CONNECTIONS` connections, default 2, each a range of
//! the table's pages, under one exported snapshot). The preview's ratio to each is printed.
//!
//! `bash scripts/bench-preview.sh [N]` (a release build; DATABASE_URL as scripts/pg.sh finds it;
//! `PREVIEW_SCAN_CONNECTIONS` from the environment; `PREVIEW_LOAD_DB` names the database made,
//! default `taxpoynt_preview_<pid>`).

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::db::ledger::engine_rows;
use taxpoynt_mono::services::tenants;

/// At most this many transactions go through a real sync; the rest are copies of them.
const SYNCED_MAX: usize = 5_000;

/// The preview's read of the environment, or of the table's pages `[start, end)`: its COPY
/// statement, and the bare `SELECT` inside it.
fn statements(env_id: uuid::Uuid, pages: Option<(i64, i64)>) -> (String, String) {
    let pages = pages.map(|(start, end)| {
        let page = |p: i64| u32::try_from(p).unwrap_or(u32::MAX);
        page(start)..page(end)
    });
    let copy = engine_rows::Scan {
        env_id,
        account_id: None,
        from: None,
        to: None,
        pages,
    }
    .copy_statement()
    .expect("no account id");
    let select = copy
        .strip_prefix("COPY (")
        .and_then(|s| s.strip_suffix(") TO STDOUT (FORMAT binary)"))
        .expect("a COPY of a SELECT")
        .to_owned();
    (copy, select)
}

/// How an anchor reads the rows.
#[derive(Clone, Copy)]
enum Read {
    /// The bare `SELECT`, every column of every row decoded by sqlx.
    Select,
    /// The bare COPY: every byte received.
    Copy,
}

/// Reads the preview's rows of `pages` (None: the whole environment) on `conn` as `how` says;
/// how many values were not NULL (`Select`) or bytes arrived (`Copy`).
async fn read(
    conn: &mut sqlx::PgConnection,
    how: Read,
    env_id: uuid::Uuid,
    pages: Option<(i64, i64)>,
) -> anyhow::Result<usize> {
    let (copy, select) = statements(env_id, pages);
    match how {
        Read::Select => read_all(sqlx::query(&select).fetch(conn)).await,
        Read::Copy => {
            let mut data = conn.copy_out_raw(&copy).await?;
            let mut bytes = 0;
            while let Some(chunk) = data.next().await {
                bytes += chunk?.len();
            }
            Ok(bytes)
        }
    }
}

/// Reads every column of every row `rows` streams; how many values were not NULL.
async fn read_all<'a>(
    mut rows: futures::stream::BoxStream<'a, Result<sqlx::postgres::PgRow, sqlx::Error>>,
) -> anyhow::Result<usize> {
    use sqlx::Row;
    let mut seen = 0usize;
    while let Some(row) = rows.next().await {
        let row = row?;
        for i in 0..row.len() {
            let raw = row.try_get_raw(i)?;
            seen += usize::from(!sqlx::ValueRef::is_null(&raw));
        }
    }
    Ok(seen)
}

/// Reads the preview's rows as `how` says, split as the preview splits its scan: the table's
/// pages in `connections` equal ranges (the last open to the end), each read on a connection
/// of its own in a task of its own, all under the snapshot the first exports; one connection
/// reads the whole environment. Five times; the time of each pass.
async fn bare_scans(
    pool: &sqlx::PgPool,
    env_id: uuid::Uuid,
    connections: u32,
    how: Read,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut first = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ").await?;
        if connections == 1 {
            let seen = read(&mut first, how, env_id, None).await?;
            anyhow::ensure!(seen > 0);
            first.rollback().await?;
            times.push(started.elapsed());
            continue;
        }
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *first)
            .await?;
        let pages: i64 = sqlx::query_scalar(
            "SELECT pg_relation_size('mono_transactions') / current_setting('block_size')::int8",
        )
        .fetch_one(&mut *first)
        .await?;
        let n = i64::from(connections);
        let bound = move |i: i64| {
            if i == n {
                i64::from(u32::MAX)
            } else {
                pages * i / n
            }
        };
        let mut others = tokio::task::JoinSet::new();
        for i in 1..n {
            let (pool, snapshot) = (pool.clone(), snapshot.clone());
            others.spawn(async move {
                let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ").await?;
                let set = format!("SET TRANSACTION SNAPSHOT '{snapshot}'");
                sqlx::Executor::execute(&mut *tx, set.as_str()).await?;
                let seen = read(&mut tx, how, env_id, Some((bound(i), bound(i + 1)))).await?;
                tx.rollback().await?;
                anyhow::Ok(seen)
            });
        }
        let mut seen = read(&mut first, how, env_id, Some((bound(0), bound(1)))).await?;
        while let Some(other) = others.join_next().await {
            seen += other??;
        }
        first.rollback().await?;
        anyhow::ensure!(seen > 0);
        times.push(started.elapsed());
    }
    Ok(times)
}

/// Copies the synced ledger rows, each under new transaction ids, until the environment holds
/// `size`: the JSON and the engine's fields as the sync wrote them, the id in the JSON too.
/// About half a million rows per statement.
async fn copy_ledger(pool: &sqlx::PgPool, env_id: uuid::Uuid, size: usize) -> anyhow::Result<()> {
    let synced: i64 = sqlx::query_scalar("SELECT count(*) FROM mono_transactions WHERE env_id = $1")
        .bind(env_id)
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(synced > 0, "the sync stored nothing");
    let size = size as i64;
    let per_statement = (500_000 / synced).max(1);
    let mut held = synced;
    let mut copy = 1i64;
    while held < size {
        // Whole copies of the synced rows, the last one cut to what is missing.
        let copies = ((size - held) / synced).clamp(1, per_statement);
        let rows = (copies * synced).min(size - held);
        sqlx::query(
            "INSERT INTO mono_transactions (env_id, account_id, transaction_id, outcome, reason, created_at,
                 transaction, tx_date, credit, amount, currency, narration, description, reference,
                 counterparty_name, counterparty_account, counterparty_bank)
             SELECT env_id, account_id, copy_id, outcome, reason, created_at,
                    CASE WHEN transaction ? '_id' THEN jsonb_set(transaction, '{_id}', to_jsonb(copy_id))
                         ELSE jsonb_set(transaction, '{id}', to_jsonb(copy_id)) END,
                    tx_date, credit, amount, currency, narration, description, reference,
                    counterparty_name, counterparty_account, counterparty_bank
             FROM (SELECT o.*, o.transaction_id || '-copy' || g AS copy_id
                   FROM (SELECT * FROM mono_transactions
                         WHERE env_id = $1 AND transaction_id NOT LIKE '%-copy%') AS o,
                        generate_series($2::int8, $2::int8 + $3::int8 - 1) AS g
                   ORDER BY g, o.transaction_id LIMIT $4) AS copied",
        )
        .bind(env_id)
        .bind(copy)
        .bind(copies)
        .bind(rows)
        .execute(pool)
        .await?;
        held += rows;
        copy += copies;
    }
    sqlx::query("VACUUM ANALYZE mono_transactions")
        .execute(pool)
        .await?;
    Ok(())
}

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
    let connections: u32 = std::env::var("PREVIEW_SCAN_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
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
    let db = std::env::var("PREVIEW_LOAD_DB")
        .unwrap_or_else(|_| format!("taxpoynt_preview_{}", std::process::id()));
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
        "PREVIEW_SCAN_CONNECTIONS" => Some(connections.to_string()),
        // Room for the split scan's connections whatever their number.
        "PREVIEW_CONCURRENCY" => Some(connections.max(4).to_string()),
        _ => None,
    })?;
    let served = common::Served::start(settings).await?;
    let pool = served.pool();
    let base = served.base.clone();
    let tenant = tenants::create_tenant(&pool, "Bench Org").await?;
    let env_id = common::sandbox_env(&tenant)?;

    let synced = size.min(SYNCED_MAX);
    let account_id =
        common::link_sandbox_account(&http, &sandbox.base_url, &base, &tenant.api_key, synced, 11).await?;
    loop {
        let resp: Value = http
            .post(format!("{base}/si/mono/sync"))
            .bearer_auth(&tenant.api_key)
            .json(&json!({"accountId": account_id, "pageSize": 500}))
            .send()
            .await?
            .json()
            .await?;
        // Linking starts a first sync of its own: wait for it, then page on.
        if resp["error"]["code"] == "sync_in_progress" {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        anyhow::ensure!(resp["data"].is_object(), "sync failed: {resp}");
        if resp["data"]["hasMore"] != true {
            break;
        }
    }
    let started = Instant::now();
    copy_ledger(&pool, env_id, size).await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mono_transactions")
        .fetch_one(&pool)
        .await?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('mono_transactions')")
        .fetch_one(&pool)
        .await?;
    println!(
        "stored transactions: {stored} ({synced} synced, the rest copied in {:.1} s); ledger table {} MB",
        started.elapsed().as_secs_f64(),
        bytes / 1_000_000
    );

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let select_one = median(bare_scans(&pool, env_id, 1, Read::Select).await?);
    let select_split = median(bare_scans(&pool, env_id, connections, Read::Select).await?);
    let copy_one = median(bare_scans(&pool, env_id, 1, Read::Copy).await?);
    let copy_split = median(bare_scans(&pool, env_id, connections, Read::Copy).await?);
    println!(
        "anchors, the same rows and columns as the preview, median of 5: bare SELECT on one connection {:.0} ms, \
         split over {connections} {:.0} ms; bare COPY (binary) on one connection {:.0} ms, split over {connections} {:.0} ms",
        ms(select_one),
        ms(select_split),
        ms(copy_one),
        ms(copy_split)
    );

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
        let ratio = |anchor: Duration| m.as_secs_f64() / anchor.as_secs_f64();
        println!(
            "preview ({name}) over {stored} transactions: median {:.0} ms, best {:.0} ms; {:.2}x the bare \
             SELECT on one connection, {:.2}x split; {:.2}x the bare COPY on one connection, {:.2}x split; \
             {} deciders; changed {}",
            ms(m),
            ms(*times.iter().min().unwrap()),
            ratio(select_one),
            ratio(select_split),
            ratio(copy_one),
            ratio(copy_split),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            answer["data"]["changed"]
        );
    }
    served.stop().await;
    pool.close().await;
    common::drop_database(&mut admin, &db).await?;
    Ok(())
}
