//! Building and running the application: pool, migrations, router with its layers, the
//! listener, background jobs, and graceful shutdown on one `CancellationToken`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Settings;
use crate::error::ApiError;
use crate::state::AppState;

pub struct Application {
    addr: SocketAddr,
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to the database named by the settings, applies migrations and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = crate::db::pool(settings.database_url(), settings.database_max_connections)
            .context("DATABASE_URL is not a valid connection string")?;
        crate::db::MIGRATOR
            .run(&pool)
            .await
            .context("applying database migrations")?;
        Self::build_with_pool(settings, pool).await
    }

    /// Binds with an existing pool (tests hand in a per-test database); no migrations run.
    /// Loads the signing key, so the database must be reachable unless `SIGNING_KEY` is set.
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        // Install the metrics recorder before the first request is counted.
        let _ = crate::telemetry::metrics_handle();
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("binding BIND_ADDR {}", settings.bind_addr))?;
        let addr = listener.local_addr()?;
        let mono = mono_client(&settings.mono)?;
        let signer = crate::services::signing::load(&settings, &pool).await?;
        let state = AppState {
            intake: Arc::new(crate::services::webhooks::IntakeBatcher::start(pool.clone())),
            db: pool,
            mono,
            sync_slots: Arc::new(tokio::sync::Semaphore::new(settings.sync_concurrency as usize)),
            signer: Arc::new(signer),
            settings: Arc::new(settings),
            shutdown: CancellationToken::new(),
            jobs_notify: Arc::new(tokio::sync::Notify::new()),
            policies: Arc::new(crate::services::settings::PolicyCache::new(
                crate::services::settings::POLICY_CACHE_CAPACITY,
            )),
        };
        let router = app_router(state.clone());
        Ok(Application {
            addr,
            listener,
            router,
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Cancel this token to stop the server (in-flight requests finish) and the jobs.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let token = self.state.shutdown.clone();
        let mut jobs = tokio::task::JoinSet::new();
        let mono = &self.state.settings.mono;
        if !mono.verify_signature {
            tracing::warn!("MONO_VERIFY_SIGNATURE=false: webhooks are accepted without checking their secret or signature");
        } else if mono.webhook_secret.is_none() {
            tracing::warn!("MONO_WEBHOOK_SECRET is not set: every webhook will be refused with 401");
        }
        jobs.spawn(crate::jobs::worker::run(self.state.clone()));
        if let Some(interval) = self.state.settings.sync_interval {
            jobs.spawn(crate::jobs::scheduled_sync::run(self.state.clone(), interval));
        }
        jobs.spawn(crate::jobs::retention::run(self.state.clone()));
        tracing::info!(addr = %self.addr, "serving");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
            .context("serving HTTP")?;
        // The server stopped because the token was cancelled; the jobs see it too.
        while jobs.join_next().await.is_some() {}
        tracing::info!("server stopped");
        Ok(())
    }
}

/// The Mono client from the settings. Without a secret key every call is refused by Mono
/// (surfacing as a 502 naming Mono's message), so the service still starts and serves the rest.
pub fn mono_client(settings: &crate::config::MonoSettings) -> anyhow::Result<crate::mono::MonoClient> {
    use crate::mono::{MonoClient, MonoConfig};
    let secret = settings.secret_key.clone().unwrap_or_else(|| {
        tracing::warn!(
            "MONO_SECRET_KEY is not set: calls to Mono will fail (use `serve --sandbox` to try the service)"
        );
        secrecy::SecretString::from(String::new())
    });
    let mut config = MonoConfig::new(settings.base_url.clone(), secret);
    config.connect_timeout = settings.connect_timeout;
    config.timeout = settings.timeout;
    config.max_retries = settings.max_retries;
    MonoClient::new(config).context("MONO_BASE_URL / MONO_SECRET_KEY")
}

/// The router with every layer the contract needs, outermost first: trace id, request span
/// and metrics; panics as a 500 envelope; the body limit.
pub fn app_router(state: AppState) -> Router {
    crate::http::router(state)
        .layer(DefaultBodyLimit::max(crate::http::extract::BODY_LIMIT))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
            },
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::request_context))
}

/// Resolves when SIGTERM or ctrl-c arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
