//! The command line: `serve` (default), `migrate`, `tenant create`, `key create|revoke`,
//! `classify`, `sandbox`, `purge`, `demo` and `webhook send`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use crate::config::Settings;
use crate::services::tenants;
use crate::tenancy::Role;

#[derive(Debug, Parser)]
#[command(
    name = "taxpoynt-mono",
    version,
    about = "Mono Connect bank-feed connector for Taxpoynt"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage organizations.
    Tenant {
        #[command(subcommand)]
        action: TenantCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        action: KeyCommand,
    },
    /// Decide JSON Lines of `{transaction, settings?, rules?, accountId?}` from stdin, one
    /// decision per line on stdout (the eligibility fixtures feed it as they are).
    Classify,
    /// Run the Mono v2 sandbox alone.
    Sandbox(SandboxArgs),
    /// Run the retention purge once and print, per environment, the rows it deletes.
    Purge {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create (or reuse) the "Demo" organization, make it a new API key and print a
    /// copy-paste walk-through of the API against the sandbox.
    Demo {
        /// Where the service answers (default: from BIND_ADDR).
        #[arg(long)]
        base_url: Option<String>,
        /// Print the key and the steps as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mono webhooks.
    Webhook {
        #[command(subcommand)]
        action: WebhookCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Post a realistic, signed Mono event to a running service and print its answer.
    Send {
        /// The event, as Mono names it (`mono.events.` may be left out): account_connected,
        /// account_updated, account_reauthorized, account_unlinked, account_income,
        /// mono.accounts.jobs.update, transaction.updated, transaction.settled.
        event: String,
        /// The webhook URL, e.g. http://127.0.0.1:8080/si/mono/webhook.
        #[arg(long)]
        to: url::Url,
        /// The Mono account id the event is about (default: a generated one).
        #[arg(long)]
        account: Option<String>,
        /// Signs the event; default MONO_WEBHOOK_SECRET, else the sandbox's secret.
        #[arg(long)]
        secret: Option<String>,
        /// `meta.ref` of account_connected: the ref a widget link was given.
        #[arg(long = "ref")]
        reference: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Seed of the generated customers, accounts and transactions.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to post webhooks (e.g. http://127.0.0.1:8080/si/mono/webhook).
    #[arg(long)]
    pub webhook_url: Option<url::Url>,
    #[command(flatten)]
    pub limits: SandboxLimitArgs,
}

/// The sandbox's own rate limit and latency (also set later with `PUT /_sandbox/limits`).
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct SandboxLimitArgs {
    /// Calls per whole second the sandbox lets through; past it, 429 with Retry-After.
    #[arg(long = "max-rps", value_parser = clap::value_parser!(u32).range(1..=i64::from(sandbox::limits::MAX_RPS)))]
    pub max_rps: Option<u32>,
    /// Milliseconds every `/v2` call waits before it is answered.
    #[arg(long = "latency-ms", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=sandbox::limits::MAX_LATENCY_MS))]
    pub latency_ms: u64,
}

impl SandboxLimitArgs {
    fn spec(self) -> sandbox::limits::LimitsSpec {
        sandbox::limits::LimitsSpec {
            latency_ms: self.latency_ms,
            max_rps: self.max_rps,
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Also start the built-in Mono sandbox and point the client at it.
    #[arg(long)]
    pub sandbox: bool,
    /// Port of the built-in sandbox on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub sandbox_port: u16,
    /// Calls per whole second the built-in sandbox lets through (`--sandbox` only).
    #[arg(long = "sandbox-max-rps", value_parser = clap::value_parser!(u32).range(1..=i64::from(sandbox::limits::MAX_RPS)))]
    pub sandbox_max_rps: Option<u32>,
    /// Milliseconds every call to the built-in sandbox waits (`--sandbox` only).
    #[arg(long = "sandbox-latency-ms", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=sandbox::limits::MAX_LATENCY_MS))]
    pub sandbox_latency_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create an organization with its sandbox and production environments and a tenant key.
    Create {
        #[arg(long)]
        name: String,
        /// The organization's tax id (digits and `-`, 8 to 20 characters); needed to sign
        /// invoices, and can be set later with `PUT /si/org/profile`.
        #[arg(long)]
        tin: Option<String>,
        /// Print `{orgId, serviceId, environments: [{id, name}], apiKey}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for an organization; it is shown once.
    Create {
        #[arg(long)]
        org: Uuid,
        /// An admin key (platform operations) instead of a tenant key.
        #[arg(long)]
        admin: bool,
        /// Print `{keyId, apiKey}`.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; requests with it answer 401 from then on.
    Revoke {
        #[arg(long)]
        id: Uuid,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args).await,
        Command::Purge { dry_run } => {
            let settings = load_settings()?;
            let pool = connect(&settings).await?;
            let stop = tokio_util::sync::CancellationToken::new();
            let report = crate::services::retention::purge(&pool, settings.retention_days, &stop, dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            let mut total = 0;
            for env in &report {
                let rows: Vec<String> = env.rows.iter().map(|(k, n)| format!("{k}={n}")).collect();
                total += env.rows.values().sum::<u64>();
                println!(
                    "org {} env {} ({}, {} days): {verb} {}",
                    env.org_id,
                    env.env_id,
                    env.env,
                    env.retention_days,
                    rows.join(" ")
                );
            }
            let keep = crate::services::retention::UnattributedRetention::from_settings(&settings);
            let platform = crate::services::retention::purge_unattributed(&pool, keep, &stop, dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let rows: Vec<String> = platform.rows.iter().map(|(k, n)| format!("{k}={n}")).collect();
            total += platform.rows.values().sum::<u64>();
            println!(
                "no environment (receipts {} days, unclaimed deliveries {} days): {verb} {}",
                platform.receipt_days,
                platform.unclaimed_days,
                rows.join(" ")
            );
            println!(
                "{} environment(s) with a retention; {verb} {total} row(s) in all",
                report.len()
            );
            Ok(())
        }
        Command::Demo { base_url, json } => {
            let settings = load_settings()?;
            let pool = connect(&settings).await?;
            let base = base_url.unwrap_or_else(|| {
                let addr = settings.bind_addr;
                let host = if addr.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    addr.ip().to_string()
                };
                format!("http://{host}:{}", addr.port())
            });
            let demo = crate::services::demo::ensure_demo(&pool).await?;
            if json {
                let out = serde_json::json!({
                    "baseUrl": base,
                    "orgId": demo.org_id,
                    "apiKey": demo.api_key,
                    "reused": demo.reused,
                    "steps": crate::services::demo::steps(&base),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", crate::services::demo::render(&base, &demo));
            }
            Ok(())
        }
        Command::Webhook {
            action:
                WebhookCommand::Send {
                    event,
                    to,
                    account,
                    secret,
                    reference,
                },
        } => {
            let secret = secret
                .or_else(|| {
                    std::env::var("MONO_WEBHOOK_SECRET")
                        .ok()
                        .filter(|s| !s.is_empty())
                })
                .unwrap_or_else(|| sandbox::DEFAULT_WEBHOOK_SECRET.to_owned());
            let request = sandbox::trigger::SendRequest {
                event,
                to,
                account,
                secret,
                reference,
            };
            let outcome = sandbox::trigger::send(&request).await?;
            println!("{} {} -> {}", outcome.event, outcome.event_id, outcome.status);
            println!("{}", outcome.body);
            if (200..300).contains(&outcome.status) {
                Ok(())
            } else {
                anyhow::bail!("the service answered {}", outcome.status)
            }
        }
        Command::Migrate => {
            let settings = load_settings()?;
            crate::telemetry::init(settings.log_format);
            let pool = connect(&settings).await?;
            println!(
                "migrations applied ({} in total)",
                crate::db::applied_migrations(&pool).await?
            );
            Ok(())
        }
        Command::Tenant {
            action: TenantCommand::Create { name, tin, json },
        } => {
            let pool = connect(&load_settings()?).await?;
            let created = tenants::create_tenant_with_tin(&pool, &name, tin.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("organization  {}", created.org_id);
                println!("service id    {}", created.service_id);
                for env in &created.environments {
                    println!("environment   {} ({})", env.id, env.name);
                }
                println!("api key       {}  (shown once; store it now)", created.api_key);
            }
            Ok(())
        }
        Command::Key {
            action: KeyCommand::Create { org, admin, json },
        } => {
            let pool = connect(&load_settings()?).await?;
            let role = if admin { Role::Admin } else { Role::Tenant };
            let created = tenants::create_key(&pool, org, role).await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("key id   {}", created.key_id);
                println!("api key  {}  (shown once; store it now)", created.api_key);
            }
            Ok(())
        }
        Command::Classify => {
            let defaults = crate::config::EligibilityDefaults::from_lookup(|k| std::env::var(k).ok())?;
            let stats = eligibility::classify(
                std::io::stdin().lock(),
                std::io::stdout().lock(),
                &defaults.settings(),
            )?;
            eprintln!(
                "classify: {} lines, {} drafts, {} dlq, {} skipped, {} errors",
                stats.lines, stats.drafts, stats.dlq, stats.skipped, stats.errors
            );
            Ok(())
        }
        Command::Sandbox(args) => {
            crate::telemetry::init(crate::config::LogFormat::Text);
            let mut config = sandbox_config(args.seed, args.webhook_url);
            config.limits = args.limits.spec();
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
            // A key the user gave is theirs to know; only the sandbox's own default is shown.
            let key = if config.secret_key == sandbox::DEFAULT_SECRET_KEY {
                format!("mono-sec-key: {}", config.secret_key)
            } else {
                "mono-sec-key: the value of MONO_SECRET_KEY".to_owned()
            };
            println!("Mono sandbox on http://{addr}/ ({key})");
            sandbox::run(config, addr, crate::startup::shutdown_signal()).await?;
            Ok(())
        }
        Command::Key {
            action: KeyCommand::Revoke { id },
        } => {
            let pool = connect(&load_settings()?).await?;
            if tenants::revoke_key(&pool, id).await? {
                println!("key {id} revoked");
                Ok(())
            } else {
                anyhow::bail!("no live key with id {id}")
            }
        }
    }
}

fn load_settings() -> anyhow::Result<Settings> {
    Ok(Settings::from_env()?)
}

/// A pool with migrations applied (every command that touches data needs the schema).
async fn connect(settings: &Settings) -> anyhow::Result<sqlx::PgPool> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(settings.database_url())
        .await
        .context("connecting to DATABASE_URL")?;
    crate::db::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    Ok(pool)
}

/// The sandbox's settings: its key is `MONO_SECRET_KEY` when set (so a client configured for
/// it works), its webhooks signed with `MONO_WEBHOOK_SECRET`.
fn sandbox_config(seed: u64, webhook_url: Option<url::Url>) -> sandbox::SandboxConfig {
    let mut config = sandbox::SandboxConfig {
        seed,
        webhook_url,
        webhook_secret: std::env::var("MONO_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        ..sandbox::SandboxConfig::default()
    };
    if let Some(key) = std::env::var("MONO_SECRET_KEY").ok().filter(|s| !s.is_empty()) {
        config.secret_key = key;
    }
    config
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = load_settings()?;
    crate::telemetry::init(settings.log_format);
    // Kept alive for as long as the service runs, with the MBS sandbox's demo business when
    // the MBS client points at it.
    let mut demo_business = None;
    let _sandbox = if args.sandbox {
        let mut config = sandbox_config(42, None);
        config.limits = SandboxLimitArgs {
            max_rps: args.sandbox_max_rps,
            latency_ms: args.sandbox_latency_ms,
        }
        .spec();
        if settings.mono.webhook_secret.is_none() {
            // The sandbox signs with the secret the service verifies with.
            tracing::info!("MONO_WEBHOOK_SECRET is not set: using the sandbox's default webhook secret");
            settings.mono.webhook_secret = Some(secrecy::SecretString::from(sandbox::DEFAULT_WEBHOOK_SECRET));
            config.webhook_secret = Some(sandbox::DEFAULT_WEBHOOK_SECRET.to_owned());
        }
        let secret = config.secret_key.clone();
        let handle = sandbox::Sandbox::start(
            config,
            std::net::SocketAddr::from(([127, 0, 0, 1], args.sandbox_port)),
        )
        .await
        .context("starting the built-in sandbox (Mono and MBS)")?;
        tracing::info!(url = %handle.base_url, "built-in Mono sandbox started; the Mono client points at it");
        settings.mono.base_url = handle.base_url.clone();
        settings.mono.secret_key = Some(secrecy::SecretString::from(secret));
        if settings.mbs.base_url.is_none() {
            // MBS's sandbox is served on the same port, with its demo business's keys.
            let mbs = handle.state.mbs().clone();
            let business = tokio::task::spawn_blocking(move || mbs.demo_business())
                .await
                .context("making the MBS sandbox's demo business")?
                .map_err(|e| anyhow::anyhow!("making the MBS sandbox's demo business: {e}"))?;
            settings.mbs.base_url = Some(handle.base_url.clone());
            settings.mbs.api_key = Some(secrecy::SecretString::from(business.api_key.clone()));
            settings.mbs.api_secret = Some(secrecy::SecretString::from(business.api_secret.clone()));
            tracing::info!(business_id = %business.business_id, service_id = %business.service_id, "the MBS client points at the built-in MBS sandbox's demo business");
            demo_business = Some(crate::services::demo::SandboxBusiness {
                business_id: business.business_id.clone(),
                service_id: business.service_id.clone(),
                tin: business.tin.clone(),
                crypto_keys_txt: business.crypto_keys_txt(),
            });
        }
        if settings.data_encryption_key.is_none() {
            tracing::info!("DATA_ENCRYPTION_KEY is not set: crypto keys uploaded during this run are sealed with a key made up for it");
            let key = crate::seal::DataKey::random_base64();
            settings.data_encryption_key = Some(secrecy::SecretString::from(key));
        }
        Some(handle)
    } else {
        None
    };
    let app = crate::startup::Application::build(settings).await?;
    if let Some(business) = &demo_business {
        match crate::services::demo::attach_sandbox_business(app.state(), business).await {
            Ok(true) => {
                tracing::info!(service_id = %business.service_id, "the Demo organization's business at the MBS sandbox: service id, TIN and crypto keys stored")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the Demo organization could not be given its MBS sandbox business")
            }
        }
    }
    let token = app.shutdown_token();
    tokio::spawn(async move {
        crate::startup::shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        token.cancel();
    });
    app.run_until_stopped().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("taxpoynt-mono").chain(args.iter().copied()))
    }

    #[test]
    fn sandbox_limits_are_options_of_both_commands() {
        let Some(Command::Sandbox(args)) = parse(&["sandbox", "--max-rps", "5", "--latency-ms", "20"])
            .unwrap()
            .command
        else {
            panic!("not the sandbox command");
        };
        assert_eq!((args.limits.max_rps, args.limits.latency_ms), (Some(5), 20));
        let Some(Command::Serve(args)) = parse(&["serve", "--sandbox", "--sandbox-max-rps", "7"])
            .unwrap()
            .command
        else {
            panic!("not the serve command");
        };
        assert_eq!((args.sandbox_max_rps, args.sandbox_latency_ms), (Some(7), 0));
        // No limit unless asked for; a limit of 0 or a latency past ten minutes is refused.
        let Some(Command::Sandbox(args)) = parse(&["sandbox"]).unwrap().command else {
            panic!("not the sandbox command");
        };
        assert_eq!(args.limits.spec(), sandbox::limits::LimitsSpec::default());
        for bad in [
            &["sandbox", "--max-rps", "0"][..],
            &["sandbox", "--max-rps", "many"],
            &["sandbox", "--latency-ms", "600001"],
            &["serve", "--sandbox-latency-ms", "-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
