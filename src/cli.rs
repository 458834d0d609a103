//! The command line: `serve` (default), `migrate`, `tenant create`, `key create|revoke`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use crate::auth::Role;
use crate::config::Settings;
use crate::services::tenants;

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
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Also start the built-in Mono sandbox and point the client at it.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create an organization with its sandbox and production environments and a tenant key.
    Create {
        #[arg(long)]
        name: String,
        /// Print `{orgId, environments: [{id, name}], apiKey}`.
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
            action: TenantCommand::Create { name, json },
        } => {
            let pool = connect(&load_settings()?).await?;
            let created = tenants::create_tenant(&pool, &name).await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("organization  {}", created.org_id);
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = load_settings()?;
    crate::telemetry::init(settings.log_format);
    let _ = args.sandbox;
    let app = crate::startup::Application::build(settings).await?;
    let token = app.shutdown_token();
    tokio::spawn(async move {
        crate::startup::shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        token.cancel();
    });
    app.run_until_stopped().await
}
