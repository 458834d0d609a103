//! Seeds one environment with N ledger transactions (default 10,000,000) over 500 linked
//! accounts, with the eligibility events, DRAFT invoices, DLQ records, monitoring events,
//! buyers and sync jobs they produce, decided by the service's own engine and written with
//! COPY (`common::seed` says how). Prints transactions and rows a second as it goes, then the
//! rows of each table, the tables' sizes and the database's.
//!
//! `bash scripts/seed.sh [--rows N] [--database NAME] [--append | --env ID]`: a release build
//! against the server that scripts/pg.sh finds. Without `--append` or `--env` the database is
//! made afresh (dropped first when it exists) with a new organization; with them the rows are
//! added to the seeded environment (the one with the most accounts) or to environment ID.

mod common;

use std::time::Duration;

use clap::Parser;
use common::seed::{self, SeedOptions};
use taxpoynt_mono::config::Settings;
use taxpoynt_mono::services::tenants;
use taxpoynt_mono::startup::Application;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Ledger transactions to write.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Linked accounts the transactions are spread over.
    #[arg(long, default_value_t = 500)]
    accounts: usize,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 3 * 365)]
    days: u32,
    /// The database, on the server of DATABASE_URL.
    #[arg(long, default_value = "taxpoynt_seed")]
    database: String,
    /// Add to the seeded environment of the database instead of making it afresh.
    #[arg(long)]
    append: bool,
    /// Add to this environment of the database.
    #[arg(long)]
    env: Option<Uuid>,
    /// Concurrent writing connections.
    #[arg(long, default_value_t = 2)]
    writers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.database
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "--database: letters, digits and _ only"
    );
    let master = std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("DATABASE_URL must be set"))?;
    let adding = args.append || args.env.is_some();
    let url = if adding {
        let mut url = url::Url::parse(&master)?;
        url.set_path(&args.database);
        url
    } else {
        common::fresh_database(&master, &args.database).await?.0
    };
    let settings = Settings::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.to_string()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "MONO_WEBHOOK_SECRET" => Some("seed-webhook-secret".into()),
        "DATABASE_MAX_CONNECTIONS" => Some((args.writers + 2).to_string()),
        _ => None,
    })?;
    // Built for its state (pool, configuration, policy cache) and migrations; never served.
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let pool = state.db.clone();
    let (org_id, env_id) = match (args.env, adding) {
        (Some(env), _) => {
            let org: Uuid = sqlx::query_scalar("SELECT org_id FROM environments WHERE id = $1")
                .bind(env)
                .fetch_optional(&pool)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no environment {env} in {}", args.database))?;
            (org, env)
        }
        (None, true) => seed::seeded_environment(&pool)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} holds no seeded environment", args.database))?,
        (None, false) => {
            let tenant = tenants::create_tenant(&pool, "Seeded Org").await?;
            let env = tenant
                .environments
                .iter()
                .find(|e| e.name == "sandbox")
                .map(|e| e.id)
                .ok_or_else(|| anyhow::anyhow!("no sandbox environment"))?;
            println!("organization {} (api key {})", tenant.org_id, tenant.api_key);
            (tenant.org_id, env)
        }
    };
    let tenant = seed::tenant_of(&pool, org_id, env_id).await?;
    println!(
        "seeding {} transactions over {} accounts into environment {env_id} of {}",
        args.rows, args.accounts, args.database
    );
    let opts = SeedOptions {
        rows: args.rows,
        accounts: args.accounts,
        days: args.days,
        writers: args.writers,
        progress: Some(Duration::from_secs(10)),
        // What years of autovacuum leave: visibility maps set, so counts read indexes only.
        vacuum: true,
        ..SeedOptions::default()
    };
    let report = seed::seed(&state, &tenant, &opts).await?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "wrote {} transactions ({} events, {} invoices, {} DLQ records, {} monitoring events, {} jobs) in {:.0} s: \
         {:.0} transactions/s, {:.0} rows/s",
        report.ledger,
        report.events,
        report.invoices,
        report.dlq,
        report.monitoring,
        report.jobs,
        secs,
        report.ledger as f64 / secs,
        report.rows() as f64 / secs
    );
    let sizes = sqlx::query_as::<_, (String, i64, String)>(
        "SELECT c.relname::text, c.reltuples::int8, pg_size_pretty(pg_total_relation_size(c.oid))
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r'
         ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 8",
    )
    .fetch_all(&pool)
    .await?;
    for (table, rows, size) in sizes {
        println!("  {table:<22} {rows:>11} rows  {size:>9} (with indexes)");
    }
    let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
        .fetch_one(&pool)
        .await?;
    println!("database {}: {size}", args.database);
    pool.close().await;
    Ok(())
}
